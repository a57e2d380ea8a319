package com.example.dropin;

import java.util.ArrayList;
import java.util.List;

/** Named checks, a line each ("ok   name" / "FAIL name: why"), as the Node part prints them. */
public final class Checks {
    /** A check's body. */
    @FunctionalInterface
    public interface Body {
        /** Returns a short detail for the ok line (or null); throws to fail. */
        String run() throws Exception;
    }

    private final String prefix;
    private final List<String> lines = new ArrayList<>();
    private boolean failed;

    public Checks(String prefix) {
        this.prefix = prefix;
    }

    public void check(String name, Body body) {
        try {
            String detail = body.run();
            lines.add("ok   " + prefix + name + (detail == null ? "" : " (" + detail + ")"));
        } catch (Exception | AssertionError e) {
            failed = true;
            lines.add("FAIL " + prefix + name + ": " + e);
            e.printStackTrace();
        }
    }

    /** Prints the lines on stderr (stdout carries mail.debug's protocol log); the exit code. */
    public int finish() {
        lines.forEach(System.err::println);
        return failed ? 1 : 0;
    }
}
