// Converts one component-model reference test script (.wast) into OUTDIR/commands.json plus
// one component binary per component form, in the spirit of wabt's wast2json.
//
//   node convert.mjs IN.wast OUTDIR
//
// Component text is turned into binaries with the wasm-tools text parser bundled with jco
// (in-process). The parser only parses: validation is left to the runtime under test, except
// for forms the text parser itself rejects (unresolved names, bad escapes, syntax errors).
// Those become `malformed_text` commands recording the parser's message.
//
// Invoke arguments and expected results are written as WAVE text (the typed text form of
// component values): `(u32.const 1)` -> `1`, `(str.const "a")` -> `"a"`, `(list.const ...)` ->
// `[...]`, `(record.const (field "a" u32.const 1))` -> `{a: 1}`, and so on. Values that cannot
// be written in WAVE turn their command into a `skip` with a reason.
//
// commands.json: { "source_filename", "commands": [ { "type", "line", ... } ] } with types
//   component            filename, name (or null), definition (bool); text_error when the
//                        parser rejected a component that should be valid
//   component_instance   instance name, component (definition name)
//   action               action
//   assert_return        action, expected: [WAVE]
//   assert_trap          action, text
//   assert_uninstantiable filename, text (assert_trap/assert_unlinkable on a component)
//   assert_invalid       filename, text
//   assert_malformed     filename, text
//   malformed_text       assert (assert_invalid|assert_malformed), text, parser_error
//   skip                 reason
// where action = { "type": "invoke", "instance": name or null, "field", "args": [WAVE] }.

import fs from 'node:fs';
import path from 'node:path';

// ---- S-expressions --------------------------------------------------------------------

class SyntaxError_ extends Error {}

// Tokens: '(' ')' atoms and strings. Every token has start/end offsets into the source.
function tokenize(src) {
  const toks = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (c === ';' && src[i + 1] === ';') {
      while (i < n && src[i] !== '\n') i++;
    } else if (c === '(' && src[i + 1] === ';') {
      let depth = 1;
      const start = i;
      i += 2;
      while (i < n && depth > 0) {
        if (src[i] === '(' && src[i + 1] === ';') {
          depth++;
          i += 2;
        } else if (src[i] === ';' && src[i + 1] === ')') {
          depth--;
          i += 2;
        } else {
          i++;
        }
      }
      if (depth > 0) throw new SyntaxError_(`unterminated block comment at offset ${start}`);
    } else if (c === '(' || c === ')') {
      toks.push({ kind: c, start: i, end: i + 1 });
      i++;
    } else if (c === '"') {
      const start = i;
      i++;
      while (i < n && src[i] !== '"') {
        if (src[i] === '\\') i++;
        i++;
      }
      if (i >= n) throw new SyntaxError_(`unterminated string at offset ${start}`);
      i++;
      toks.push({ kind: 'str', start, end: i, raw: src.slice(start, i) });
    } else {
      const start = i;
      while (i < n && !' \t\n\r()";'.includes(src[i])) i++;
      toks.push({ kind: 'atom', start, end: i, value: src.slice(start, i) });
    }
  }
  return toks;
}

// Nodes: { list: [...], start, end } | { atom, start, end } | { str: raw, start, end }.
function parseSexprs(src) {
  const toks = tokenize(src);
  let p = 0;
  function node() {
    const t = toks[p++];
    if (t.kind === '(') {
      const items = [];
      while (p < toks.length && toks[p].kind !== ')') items.push(node());
      if (p >= toks.length) throw new SyntaxError_(`unclosed ( at offset ${t.start}`);
      const close = toks[p++];
      return { list: items, start: t.start, end: close.end };
    }
    if (t.kind === ')') throw new SyntaxError_(`unexpected ) at offset ${t.start}`);
    if (t.kind === 'str') return { str: t.raw, start: t.start, end: t.end };
    return { atom: t.value, start: t.start, end: t.end };
  }
  const out = [];
  while (p < toks.length) out.push(node());
  return out;
}

// Decodes a wast string literal ("..." with \n \t \r \\ \' \" \XX \u{X}) to bytes.
function stringBytes(raw) {
  const s = raw.slice(1, -1);
  const out = [];
  const enc = new TextEncoder();
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\') {
      const cp = s.codePointAt(i);
      if (cp > 0xffff) i++;
      out.push(...enc.encode(String.fromCodePoint(cp)));
      continue;
    }
    const e = s[++i];
    if (e === 'n') out.push(10);
    else if (e === 't') out.push(9);
    else if (e === 'r') out.push(13);
    else if (e === '\\' || e === '"' || e === "'") out.push(e.charCodeAt(0));
    else if (e === 'u') {
      const close = s.indexOf('}', i);
      if (s[i + 1] !== '{' || close < 0) throw new SyntaxError_(`bad \\u escape in ${raw}`);
      const cp = parseInt(s.slice(i + 2, close).replace(/_/g, ''), 16);
      out.push(...enc.encode(String.fromCodePoint(cp)));
      i = close;
    } else if (/[0-9a-fA-F]/.test(e) && /[0-9a-fA-F]/.test(s[i + 1] ?? '')) {
      out.push(parseInt(s.slice(i, i + 2), 16));
      i++;
    } else {
      throw new SyntaxError_(`bad escape \\${e} in ${raw}`);
    }
  }
  return Uint8Array.from(out);
}

function stringText(raw) {
  return new TextDecoder('utf-8', { fatal: true }).decode(stringBytes(raw));
}

const isAtom = (n, v) => n && n.atom !== undefined && (v === undefined || n.atom === v);
const isId = (n) => n && n.atom !== undefined && n.atom.startsWith('$');
const isStr = (n) => n && n.str !== undefined;
const isList = (n) => n && n.list !== undefined;
const head = (n) => (isList(n) && isAtom(n.list[0]) ? n.list[0].atom : null);

// ---- values -> WAVE -------------------------------------------------------------------

class Unsupported extends Error {}

const WAVE_KEYWORDS = new Set(['true', 'false', 'some', 'none', 'ok', 'err', 'inf', 'nan']);
const waveName = (s) => (WAVE_KEYWORDS.has(s) ? '%' + s : s);

function waveEscape(cp, quote) {
  if (cp === 0x5c) return '\\\\';
  if (cp === quote.charCodeAt(0)) return '\\' + quote;
  if (cp === 10) return '\\n';
  if (cp === 9) return '\\t';
  if (cp === 13) return '\\r';
  if (cp < 0x20 || cp === 0x7f) return `\\u{${cp.toString(16)}}`;
  return String.fromCodePoint(cp);
}

function waveString(s) {
  let out = '"';
  for (const ch of s) out += waveEscape(ch.codePointAt(0), '"');
  return out + '"';
}

function parseIntLit(text) {
  let t = text.replace(/_/g, '');
  let neg = false;
  if (t.startsWith('-') || t.startsWith('+')) {
    neg = t[0] === '-';
    t = t.slice(1);
  }
  if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(t)) throw new Unsupported(`bad integer literal ${text}`);
  const v = BigInt(t);
  return neg ? -v : v;
}

function intWave(kind, text) {
  const bits = BigInt(kind.slice(1));
  const signed = kind[0] === 's';
  let v = parseIntLit(text);
  const mod = 1n << bits;
  if (v < -(mod >> 1n) || v >= mod) throw new Unsupported(`${text} out of range for ${kind}`);
  if (signed) {
    if (v >= mod >> 1n) v -= mod;  // two's complement spelling, as for core i32.const
  } else if (v < 0n) {
    v += mod;
  }
  return v.toString();
}

function parseHexFloat(t) {
  const m = /^0x([0-9a-fA-F]*)(?:\.([0-9a-fA-F]*))?(?:[pP]([+-]?[0-9]+))?$/.exec(t);
  if (!m) throw new Unsupported(`bad float literal ${t}`);
  const int = m[1] || '0';
  const frac = m[2] || '';
  let v = 0;
  for (const d of int + frac) v = v * 16 + parseInt(d, 16);
  return v * Math.pow(2, parseInt(m[3] || '0', 10) - 4 * frac.length);
}

function floatWave(kind, text) {
  let t = text.replace(/_/g, '');
  let sign = '';
  if (t.startsWith('-') || t.startsWith('+')) {
    sign = t[0] === '-' ? '-' : '';
    t = t.slice(1);
  }
  if (t === 'inf') return sign + 'inf';
  if (t === 'nan' || t.startsWith('nan:')) return 'nan';  // payloads: any NaN matches
  let v = t.startsWith('0x') ? parseHexFloat(t) : Number(t);
  if (Number.isNaN(v)) throw new Unsupported(`bad float literal ${text}`);
  if (kind === 'f32') v = Math.fround(v);
  if (!Number.isFinite(v)) return sign + 'inf';
  let s = String(v);
  if (/e/.test(s)) {
    // WAVE numbers are JSON-like: exponents are fine, but keep a mantissa with a digit.
    s = s.replace('e+', 'e');
  }
  if (sign === '-' && v === 0) return '-0';
  return sign + s;
}

// One argument/result node -> WAVE text.
function toWave(n) {
  const h = head(n);
  if (!h) throw new Unsupported(`unexpected value ${JSON.stringify(n.atom ?? n.str ?? '?')}`);
  const a = n.list.slice(1);
  const one = () => {
    if (a.length !== 1 || !(isAtom(a[0]) || isStr(a[0])))
      throw new Unsupported(`${h} expects one literal`);
    return a[0];
  };
  switch (h) {
    case 'bool.const': {
      const v = one().atom;
      if (v !== 'true' && v !== 'false') throw new Unsupported(`bad bool ${v}`);
      return v;
    }
    case 'u8.const':
    case 'u16.const':
    case 'u32.const':
    case 'u64.const':
    case 's8.const':
    case 's16.const':
    case 's32.const':
    case 's64.const':
      return intWave(h.split('.')[0], one().atom);
    case 'f32.const':
    case 'f64.const':
      return floatWave(h.split('.')[0], one().atom);
    case 'char.const': {
      const s = stringText(one().str);
      const cps = [...s];
      if (cps.length !== 1) throw new Unsupported(`char.const needs one character`);
      return "'" + waveEscape(cps[0].codePointAt(0), "'") + "'";
    }
    case 'str.const':
      try {
        return waveString(stringText(one().str));
      } catch (e) {
        if (e instanceof TypeError) throw new Unsupported('string is not valid UTF-8');
        throw e;
      }
    case 'list.const':
      return '[' + a.map(toWave).join(', ') + ']';
    case 'tuple.const':
      return '(' + a.map(toWave).join(', ') + (a.length === 1 ? ',' : '') + ')';
    case 'record.const': {
      const fields = a.map((f) => {
        if (head(f) !== 'field' || !isStr(f.list[1]))
          throw new Unsupported('record.const expects (field "name" value)');
        const rest = f.list.slice(2);
        // `(field "a" u32.const 1)` or `(field "a" (u32.const 1))`
        const v = rest.length === 1 && isList(rest[0]) ? rest[0] : { list: rest };
        return `${waveName(stringText(f.list[1].str))}: ${toWave(v)}`;
      });
      if (fields.length === 0) return '{:}';
      return '{' + fields.join(', ') + '}';
    }
    case 'variant.const': {
      if (a.length < 1 || a.length > 2 || !isStr(a[0]))
        throw new Unsupported('variant.const expects "case" [payload]');
      const name = waveName(stringText(a[0].str));
      return a.length === 2 ? `${name}(${toWave(a[1])})` : name;
    }
    case 'enum.const':
      return waveName(stringText(one().str));
    case 'flags.const':
      return (
        '{' +
        a
          .map((f) => {
            if (!isStr(f)) throw new Unsupported('flags.const expects names');
            return waveName(stringText(f.str));
          })
          .join(', ') +
        '}'
      );
    case 'option.none':
      if (a.length) throw new Unsupported('option.none takes no payload');
      return 'none';
    case 'option.some':
      if (a.length !== 1) throw new Unsupported('option.some takes one payload');
      return `some(${toWave(a[0])})`;
    case 'result.ok':
    case 'result.err': {
      const w = h === 'result.ok' ? 'ok' : 'err';
      if (a.length > 1) throw new Unsupported(`${h} takes at most one payload`);
      return a.length ? `${w}(${toWave(a[0])})` : w;
    }
    default:
      throw new Unsupported(`no WAVE form for ${h}`);
  }
}

// ---- commands ---------------------------------------------------------------------------

function lineOf(src, offset) {
  let line = 1;
  for (let i = 0; i < offset; i++) if (src.charCodeAt(i) === 10) line++;
  return line;
}

async function main() {
  const [inPath, outDir] = process.argv.slice(2);
  if (!inPath || !outDir) {
    console.error('usage: node convert.mjs IN.wast OUTDIR');
    process.exit(2);
  }
  const { parse } = await import('@bytecodealliance/jco-transpile/wasm-tools');
  const src = fs.readFileSync(inPath, 'utf8');
  const base = path.basename(inPath, '.wast');
  fs.mkdirSync(outDir, { recursive: true });
  for (const f of fs.readdirSync(outDir)) {
    if (f.endsWith('.wasm')) fs.unlinkSync(path.join(outDir, f));
  }

  let forms;
  try {
    forms = parseSexprs(src);
  } catch (e) {
    console.error(`${inPath}: ${e.message}`);
    process.exit(1);
  }

  let fileIndex = 0;
  const writeWasm = (bytes) => {
    const name = `${base}.${fileIndex++}.wasm`;
    fs.writeFileSync(path.join(outDir, name), bytes);
    return name;
  };

  // A `(component ...)` form -> { bytes } or { error } plus name/definition/instance info.
  async function componentOf(n) {
    const items = n.list;
    let i = 1;
    const info = { name: null, definition: false };
    if (isAtom(items[i], 'definition')) {
      info.definition = true;
      i++;
    }
    if (isId(items[i])) info.name = items[i++].atom;
    if (isAtom(items[i], 'binary') || isAtom(items[i], 'quote')) {
      const kind = items[i++].atom;
      const strs = items.slice(i);
      if (!strs.every(isStr)) throw new Unsupported(`component ${kind} expects strings`);
      if (kind === 'binary') {
        const parts = strs.map((s) => stringBytes(s.str));
        const bytes = new Uint8Array(parts.reduce((k, p) => k + p.length, 0));
        let k = 0;
        for (const p of parts) {
          bytes.set(p, k);
          k += p.length;
        }
        info.bytes = bytes;
        return info;
      }
      info.text = '(component ' + strs.map((s) => stringText(s.str)).join(' ') + ')';
    } else {
      const rest = i < items.length ? src.slice(items[i].start, n.end - 1) : '';
      info.text = `(component ${info.name ?? ''}\n${rest})`;
    }
    try {
      info.bytes = await parse(info.text);
    } catch (e) {
      info.error = String(e?.payload ?? e?.message ?? e);
      // wasm-tools errors arrive Debug-printed: keep the innermost `kind: ...` part.
      const m = /kind: Custom\("((?:[^"\\]|\\.)*)"\)/.exec(info.error);
      const k = info.error.lastIndexOf('kind: ');
      if (m) info.error = m[1].replace(/\\"/g, '"').replace(/\\\\/g, '\\');
      else if (k >= 0) info.error = info.error.slice(k + 6).replace(/(\s*\}\)?)+\s*$/, '');
    }
    return info;
  }

  function actionOf(n) {
    if (head(n) !== 'invoke') throw new Unsupported(`unsupported action ${head(n) ?? '?'}`);
    const items = n.list;
    let i = 1;
    let instance = null;
    if (isId(items[i])) instance = items[i++].atom;
    if (!isStr(items[i])) throw new Unsupported('invoke expects a function name');
    const field = stringText(items[i++].str);
    return { type: 'invoke', instance, field, args: items.slice(i).map(toWave) };
  }

  const commands = [];
  for (const form of forms) {
    const line = lineOf(src, form.start);
    const h = head(form);
    const a = isList(form) ? form.list : [];
    try {
      if (h === 'component' && isAtom(a[1], 'instance')) {
        // (component instance $i $C)
        if (!isId(a[3])) throw new Unsupported('component instance expects $instance $definition');
        commands.push({
          type: 'component_instance',
          line,
          instance: isId(a[2]) ? a[2].atom : null,
          component: isId(a[3]) ? a[3].atom : a[2].atom,
        });
      } else if (h === 'component') {
        const c = await componentOf(form);
        const cmd = { type: 'component', line, name: c.name, definition: c.definition };
        if (c.bytes) cmd.filename = writeWasm(c.bytes);
        else cmd.text_error = c.error;
        commands.push(cmd);
      } else if (h === 'assert_invalid' || h === 'assert_malformed') {
        if (head(a[1]) !== 'component') throw new Unsupported(`${h} of ${head(a[1]) ?? '?'}`);
        const text = isStr(a[2]) ? stringText(a[2].str) : '';
        const c = await componentOf(a[1]);
        if (c.bytes) commands.push({ type: h, line, filename: writeWasm(c.bytes), text });
        else commands.push({ type: 'malformed_text', line, assert: h, text, parser_error: c.error });
      } else if ((h === 'assert_trap' || h === 'assert_unlinkable') && head(a[1]) === 'component') {
        const text = isStr(a[2]) ? stringText(a[2].str) : '';
        const c = await componentOf(a[1]);
        const cmd = { type: 'assert_uninstantiable', line, text };
        if (c.bytes) cmd.filename = writeWasm(c.bytes);
        else cmd.text_error = c.error;
        commands.push(cmd);
      } else if (h === 'assert_return') {
        commands.push({
          type: 'assert_return',
          line,
          action: actionOf(a[1]),
          expected: a.slice(2).map(toWave),
        });
      } else if (h === 'assert_trap') {
        commands.push({
          type: 'assert_trap',
          line,
          action: actionOf(a[1]),
          text: isStr(a[2]) ? stringText(a[2].str) : '',
        });
      } else if (h === 'invoke') {
        commands.push({ type: 'action', line, action: actionOf(form) });
      } else {
        throw new Unsupported(`unsupported command ${h ?? '?'}`);
      }
    } catch (e) {
      if (!(e instanceof Unsupported || e instanceof SyntaxError_)) throw e;
      commands.push({ type: 'skip', line, command: h, reason: e.message });
    }
  }

  const json = JSON.stringify({ source_filename: inPath, commands }, null, 1);
  fs.writeFileSync(path.join(outDir, 'commands.json'), json + '\n');
}

await main();
