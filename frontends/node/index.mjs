// ESM entry: the implementation is index.cjs (one copy of the state, whichever way it is loaded).
import cjs from "./index.cjs";

export const { start, findBinary, demo, M365Mock, MockServerError, AdminError } = cjs;
export default cjs;
