package dev.m365mock.junit5;

/** The server could not be found, did not start, or refused an admin request. */
public class M365MockException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    private final int status;

    public M365MockException(String message) {
        this(message, 0, null);
    }

    public M365MockException(String message, Throwable cause) {
        this(message, 0, cause);
    }

    M365MockException(String message, int status, Throwable cause) {
        super(message, cause);
        this.status = status;
    }

    /** The HTTP status of a refused admin request, or 0. */
    public int status() {
        return status;
    }
}
