// duende-wasi-run: runs one WASI preview 1 module under Node's node:wasi, for duende's wasi
// platform (adapters/include/duende/adapters/wasi_adapter.h; docs/adapters.md).
//
//   node duende-wasi-run.mjs --stdin PATH --stdout PATH [--trap PATH] [--memory-max-pages N]
//        [--dir GUEST=HOST]... [--env NAME=VALUE]... -- MODULE.wasm [ARG]...
//
// --stdin/--stdout: files (the adapter's FIFOs) given to the module as its fd 0 and fd 1;
// fd 2 is this process's stderr. --memory-max-pages caps the module's linear memory (64 KiB
// pages): the memory section of the module is rewritten with that maximum before it is
// compiled, so memory.grow past it fails inside the module as it would on a smaller machine.
// --dir preopens HOST as GUEST. The module's exit status is ours; a trap (an unreachable,
// an out-of-bounds access, malloc failing and abort()) exits 70 (EX_SOFTWARE) after writing
// "trap: <message>" to --trap and to stderr.
import { openSync, readFileSync, writeFileSync } from 'node:fs';
import { WASI } from 'node:wasi';

const kTrapExit = 70;
const kUsageExit = 2;

function usage(message) {
  process.stderr.write(`duende-wasi-run: ${message}\n`);
  process.exit(kUsageExit);
}

function parseArgs(argv) {
  const o = { dirs: {}, env: {}, memoryMaxPages: null, trap: null, stdin: null, stdout: null };
  let i = 0;
  for (; i < argv.length; ++i) {
    const a = argv[i];
    if (a === '--') {
      ++i;
      break;
    }
    const value = argv[i + 1];
    if (value === undefined) usage(`${a} needs a value`);
    ++i;
    if (a === '--stdin') o.stdin = value;
    else if (a === '--stdout') o.stdout = value;
    else if (a === '--trap') o.trap = value;
    else if (a === '--memory-max-pages') {
      if (!/^[0-9]+$/.test(value) || Number(value) < 1 || Number(value) > 65536) {
        usage(`--memory-max-pages ${value}: give 1..65536 pages of 64 KiB`);
      }
      o.memoryMaxPages = Number(value);
    } else if (a === '--dir' || a === '--env') {
      const eq = value.indexOf('=');
      if (eq <= 0) usage(`${a} ${value}: give NAME=VALUE`);
      (a === '--dir' ? o.dirs : o.env)[value.slice(0, eq)] = value.slice(eq + 1);
    } else usage(`unknown option ${a}`);
  }
  if (i >= argv.length) usage('no module given (-- MODULE.wasm ARG...)');
  o.module = argv[i];
  o.args = argv.slice(i);
  return o;
}

// LEB128 helpers for the memory section rewrite.
function readU32(bytes, pos) {
  let result = 0;
  let shift = 0;
  for (;;) {
    const b = bytes[pos++];
    if (b === undefined) throw new Error('truncated LEB128');
    result += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return [result, pos];
  }
}

function writeU32(n) {
  const out = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

// Returns the module with every defined memory's maximum lowered to `pages` (an imported
// memory is the embedder's; this runner provides none). Throws when the module needs more
// than `pages` to start.
function limitMemory(bytes, pages) {
  if (bytes.length < 8 || bytes.readUInt32LE(0) !== 0x6d736100) throw new Error('not a wasm module');
  const parts = [bytes.subarray(0, 8)];
  let pos = 8;
  while (pos < bytes.length) {
    const id = bytes[pos];
    const [size, body] = readU32(bytes, pos + 1);
    const end = body + size;
    if (id !== 5) {
      parts.push(bytes.subarray(pos, end));
      pos = end;
      continue;
    }
    let [count, p] = readU32(bytes, body);
    const section = [...writeU32(count)];
    for (let m = 0; m < count; ++m) {
      const flags = bytes[p++];
      if ((flags & 0x04) !== 0) throw new Error('memory64 is not supported');
      let min;
      let max = null;
      [min, p] = readU32(bytes, p);
      if ((flags & 0x01) !== 0) [max, p] = readU32(bytes, p);
      if (min > pages) {
        throw new Error(`the module needs ${min} pages of memory to start; the limit is ${pages}`);
      }
      const limit = max === null ? pages : Math.min(max, pages);
      section.push(flags | 0x01, ...writeU32(min), ...writeU32(limit));
    }
    parts.push(Buffer.from([5, ...writeU32(section.length), ...section]));
    pos = end;
  }
  return Buffer.concat(parts);
}

const o = parseArgs(process.argv.slice(2));
let instance = null;

function reportTrap(err) {
  let message = `${err && err.name ? err.name : 'Error'}: ${err && err.message ? err.message : err}`;
  const memory = instance && instance.exports.memory;
  if (memory instanceof WebAssembly.Memory) {
    const mib = (memory.buffer.byteLength / 1048576).toFixed(1);
    message += ` (linear memory ${mib} MiB`;
    if (o.memoryMaxPages !== null) {
      const limit = (o.memoryMaxPages * 65536) / 1048576;
      message += ` of a ${limit.toFixed(1)} MiB limit`;
      if (memory.buffer.byteLength + 65536 > o.memoryMaxPages * 65536) message += ', reached';
    }
    message += ')';
  }
  process.stderr.write(`duende-wasi-run: trap: ${message}\n`);
  if (o.trap) {
    try {
      writeFileSync(o.trap, `trap: ${message}\n`, { mode: 0o600 });
    } catch (e) {
      process.stderr.write(`duende-wasi-run: unable to write ${o.trap}: ${e.message}\n`);
    }
  }
  process.exit(kTrapExit);
}

let bytes;
try {
  bytes = readFileSync(o.module);
  if (o.memoryMaxPages !== null) bytes = limitMemory(bytes, o.memoryMaxPages);
} catch (e) {
  process.stderr.write(`duende-wasi-run: ${o.module}: ${e.message}\n`);
  process.exit(1);
}
const stdin = o.stdin ? openSync(o.stdin, 'r') : 0;
const stdout = o.stdout ? openSync(o.stdout, 'w') : 1;
const wasi = new WASI({
  version: 'preview1',
  args: o.args,
  env: o.env,
  preopens: o.dirs,
  stdin,
  stdout,
  stderr: 2,
  returnOnExit: true,
});
try {
  const module = await WebAssembly.compile(bytes);
  instance = await WebAssembly.instantiate(module, wasi.getImportObject());
} catch (e) {
  process.stderr.write(`duende-wasi-run: ${o.module}: ${e.message}\n`);
  process.exit(1);
}
try {
  process.exitCode = wasi.start(instance);
} catch (e) {
  reportTrap(e);
}
