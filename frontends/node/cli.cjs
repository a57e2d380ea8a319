#!/usr/bin/env node
"use strict";
// `npx mock-server …`: run the packaged binary in the foreground.
const { spawnSync } = require("node:child_process");
const { findBinary } = require("./index.cjs");

let binary;
try {
  binary = findBinary();
} catch (e) {
  console.error(e.message);
  process.exit(1);
}
const r = spawnSync(binary, process.argv.slice(2), { stdio: "inherit" });
process.exit(r.status ?? 1);
