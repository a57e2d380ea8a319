export * from "./index.cjs";
import cjs = require("./index.cjs");
export default cjs;
