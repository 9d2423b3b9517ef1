#!/usr/bin/env node
// Compile Vigil's Solidity contracts with solcjs (the npm `solc` package, offline).
//
//   node deploy/chain/compile.js [--out DIR] [FILE.sol ...]
//
// Defaults: every chain/contracts/*.sol, output to <repo>/.cache/contracts/.
// For each contract it writes <Name>.json:
//   {"contractName", "sourceName", "abi", "bytecode", "deployedBytecode",
//    "compiler": {"name": "solc", "version", "settings"}, "sourceSha256"}
// Build output lives in .cache/ (git-ignored) and is never committed. A file is
// rewritten only when its content changes, so repeated runs are cheap to watch.
"use strict";

const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

let solc;
try {
  solc = require("solc");
} catch (err) {
  console.error("compile.js: the npm package `solc` is missing; run: deploy/chain/chain.sh install");
  process.exit(2);
}

const REPO = path.resolve(__dirname, "..", "..");
const SETTINGS = {
  // cancun: every current node (anvil, geth, L2 clients) runs it; newer targets
  // would add opcodes some chains lack, and the token needs none of them.
  evmVersion: "cancun",
  optimizer: { enabled: true, runs: 200 },
  outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
};

function parseArgs(argv) {
  const out = { outDir: path.join(REPO, ".cache", "contracts"), files: [] };
  for (let i = 0; i < argv.length; i += 1) {
    if (argv[i] === "--out") {
      out.outDir = path.resolve(argv[i + 1]);
      i += 1;
    } else if (argv[i].startsWith("--")) {
      throw new Error(`unknown option ${argv[i]}`);
    } else {
      out.files.push(path.resolve(argv[i]));
    }
  }
  if (out.files.length === 0) {
    const dir = path.join(REPO, "chain", "contracts");
    out.files = fs
      .readdirSync(dir)
      .filter((f) => f.endsWith(".sol"))
      .sort()
      .map((f) => path.join(dir, f));
  }
  return out;
}

function writeIfChanged(file, text) {
  if (fs.existsSync(file) && fs.readFileSync(file, "utf8") === text) return false;
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, text);
  fs.renameSync(tmp, file); // atomic: a reader never sees half a file
  return true;
}

function main() {
  const { outDir, files } = parseArgs(process.argv.slice(2));
  const sources = {};
  const digests = {};
  for (const file of files) {
    const name = path.relative(REPO, file).split(path.sep).join("/");
    const content = fs.readFileSync(file, "utf8");
    sources[name] = { content };
    digests[name] = crypto.createHash("sha256").update(content).digest("hex");
  }
  const input = { language: "Solidity", sources, settings: SETTINGS };
  const output = JSON.parse(solc.compile(JSON.stringify(input)));
  const errors = (output.errors || []).filter((e) => e.severity === "error");
  for (const e of output.errors || []) console.error(e.formattedMessage || e.message);
  if (errors.length > 0) process.exit(1);

  fs.mkdirSync(outDir, { recursive: true });
  const version = solc.version();
  for (const [sourceName, contracts] of Object.entries(output.contracts || {})) {
    for (const [contractName, c] of Object.entries(contracts)) {
      const artifact = {
        contractName,
        sourceName,
        abi: c.abi,
        bytecode: `0x${c.evm.bytecode.object}`,
        deployedBytecode: `0x${c.evm.deployedBytecode.object}`,
        compiler: { name: "solc", version, settings: { evmVersion: SETTINGS.evmVersion, optimizer: SETTINGS.optimizer } },
        sourceSha256: digests[sourceName],
      };
      const file = path.join(outDir, `${contractName}.json`);
      const changed = writeIfChanged(file, `${JSON.stringify(artifact, null, 2)}\n`);
      console.log(`compile.js: ${contractName} -> ${path.relative(process.cwd(), file)}${changed ? "" : " (unchanged)"}`);
    }
  }
}

try {
  main();
} catch (err) {
  console.error(`compile.js: ${err.message}`);
  process.exit(2);
}
