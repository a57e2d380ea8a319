package dev.m365mock.junit5;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.nio.file.attribute.PosixFilePermission;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** A missing or broken binary is a clear error, never a hang. */
class MissingBinaryTest {

    @TempDir
    Path dir;

    @Test
    void noBinaryAnywhereNamesAllThreePlaces() {
        String saved = System.getProperty(M365MockExtension.BINARY_PROPERTY);
        System.clearProperty(M365MockExtension.BINARY_PROPERTY);
        try {
            Map<String, String> env = Map.of("PATH", dir.toString());
            M365MockExtension m365 = new M365MockExtension().withEnvironment(env::get);
            M365MockException e = assertThrows(M365MockException.class, m365::start);
            String m = e.getMessage();
            assertTrue(m.contains("system property m365mock.bin"), m);
            assertTrue(m.contains("environment variable M365_MOCK_BIN"), m);
            assertTrue(m.contains("mock-server on the PATH (" + dir + ")"), m);
            assertTrue(m.contains("cargo build -p mock-server"), m);
        } finally {
            if (saved != null) {
                System.setProperty(M365MockExtension.BINARY_PROPERTY, saved);
            }
        }
    }

    @Test
    void environmentVariableNamingNothingIsAnError() {
        String saved = System.getProperty(M365MockExtension.BINARY_PROPERTY);
        System.clearProperty(M365MockExtension.BINARY_PROPERTY);
        try {
            Path missing = dir.resolve("no-such-mock-server");
            Map<String, String> env = Map.of("M365_MOCK_BIN", missing.toString(), "PATH", "");
            M365MockException e = assertThrows(M365MockException.class,
                    new M365MockExtension().withEnvironment(env::get)::start);
            assertTrue(e.getMessage().contains("environment variable M365_MOCK_BIN names " + missing), e.getMessage());
        } finally {
            if (saved != null) {
                System.setProperty(M365MockExtension.BINARY_PROPERTY, saved);
            }
        }
    }

    @Test
    void binaryThatExitsReportsItsOutput() throws Exception {
        Path fake = script("echo 'error: no such fixture' >&2\nexit 3\n");
        M365MockException e = assertThrows(M365MockException.class, new M365MockExtension().withBinary(fake)::start);
        assertTrue(e.getMessage().contains("exited with status 3"), e.getMessage());
        assertTrue(e.getMessage().contains("error: no such fixture"), e.getMessage());
    }

    @Test
    void binaryThatNeverGetsReadyTimesOutWithItsOutput() throws Exception {
        Path fake = script("echo 'starting…' >&2\nexec sleep 60\n");
        M365MockException e = assertThrows(M365MockException.class,
                new M365MockExtension().withBinary(fake).withStartTimeout(Duration.ofMillis(500))::start);
        assertTrue(e.getMessage().contains("wrote no ready file within 500 ms"), e.getMessage());
        assertTrue(e.getMessage().contains("starting…"), e.getMessage());
    }

    private Path script(String body) throws Exception {
        Path p = dir.resolve("fake-mock-server");
        Files.writeString(p, "#!/bin/sh\n" + body);
        Files.setPosixFilePermissions(p, Set.of(PosixFilePermission.OWNER_READ, PosixFilePermission.OWNER_EXECUTE,
                PosixFilePermission.OWNER_WRITE));
        return p;
    }
}
