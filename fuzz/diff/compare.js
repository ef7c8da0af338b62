'use strict';
// Compares the transcripts of cmuduo_dump and llhttp_dump case by case and
// prints every disagreement, classified:
//   a   cmuduo yields a request that llhttp rejects (llhttp error)
//   b   cmuduo rejects (error) a request that llhttp yields
//   c   both yield request #i but differently: c-framing when the body,
//       trailers or keep-alive differ, c-head when only the head does
//   c-boundary  one parser completed request #i while the other still waits
//       for more bytes of it: they disagree on where a request ends
//   a~ / b~     the same requests, then llhttp (a~) or cmuduo (b~) rejects
//       bytes that the other still waits on or has skipped
//   e   the same requests and neither rejects, but one waits for more bytes
// A case that llhttp ends as an upgrade (CONNECT, Upgrade) is compared up to
// that request only: llhttp hands what follows to a tunnel.
//
// Usage: node compare.js corpus.bin cmuduo.txt llhttp.txt [details.txt]
const fs = require('fs');
const { parseCorpus } = require('./llhttp_dump.js');

function load(file) {
  const map = new Map();
  let cur = null;
  for (const line of fs.readFileSync(file, 'latin1').split('\n')) {
    if (line.startsWith('=== ')) {
      cur = { reqs: [], end: '' };
      map.set(line.slice(4), cur);
    } else if (line.startsWith('REQ ')) cur.reqs.push([line]);
    else if (line.startsWith('END ')) cur.end = line.slice(4);
    else if (line) cur.reqs[cur.reqs.length - 1].push(line);
  }
  return map;
}

function endKind(end) { return end.split(' ')[0]; }
function errSig(end) {
  // cmuduo: "error 400 @n reason"; llhttp: "error HPE_X @n reason"
  const m = /^error (\S+) @\S+ (.*)$/.exec(end);
  return m ? `${m[1]} ${m[2]}` : end;
}
function fieldsDiffer(x, y, re) {
  return JSON.stringify(x.filter((l) => re.test(l))) !== JSON.stringify(y.filter((l) => re.test(l)));
}

function classify(c, l) {
  let lreqs = l.reqs;
  let creqs = c.reqs;
  const upgrade = endKind(l.end) === 'upgrade';
  let i = 0;
  while (i < creqs.length && i < lreqs.length && creqs[i].join('\n') === lreqs[i].join('\n')) i++;
  if (upgrade && i === lreqs.length && creqs.length >= i) return null;
  if (i < creqs.length && i < lreqs.length) {
    const x = creqs[i], y = lreqs[i];
    const framing = fieldsDiffer(x, y, /^(BODY|T) /) || x[0].slice(-4) !== y[0].slice(-4);
    const what = [];
    if (x[0] !== y[0]) what.push('request-line/ka');
    if (fieldsDiffer(x, y, /^H /)) what.push('headers');
    if (fieldsDiffer(x, y, /^T /)) what.push('trailers');
    if (fieldsDiffer(x, y, /^BODY /)) what.push('body');
    return { cls: framing ? 'c-framing' : 'c-head', sig: what.join('+'), at: i };
  }
  const ck = endKind(c.end), lk = endKind(l.end);
  if (i === creqs.length && i < lreqs.length) {
    if (ck === 'error') return { cls: 'b', sig: `cmuduo ${errSig(c.end)}`, at: i };
    return { cls: 'c-boundary', sig: `cmuduo ${ck}, llhttp completes request #${i}`, at: i };
  }
  if (i === lreqs.length && i < creqs.length) {
    if (lk === 'error') return { cls: 'a', sig: `llhttp ${errSig(l.end)}`, at: i };
    return { cls: 'c-boundary', sig: `llhttp ${lk}, cmuduo completes request #${i}`, at: i };
  }
  if (ck === lk || upgrade) return null;
  if (lk === 'error') return { cls: 'a~', sig: `llhttp ${errSig(l.end)}; cmuduo ${ck}`, at: i };
  if (ck === 'error') return { cls: 'b~', sig: `cmuduo ${errSig(c.end)}; llhttp ${lk}`, at: i };
  return { cls: 'e', sig: `cmuduo ${ck}, llhttp ${lk}`, at: i };
}

function esc(buf, max = 300) {
  let s = '';
  for (const b of buf.subarray(0, max)) {
    if (b === 0x0d) s += '\\r';
    else if (b === 0x0a) s += '\\n';
    else if (b < 0x20 || b > 0x7e || b === 0x5c) s += '\\x' + b.toString(16).padStart(2, '0');
    else s += String.fromCharCode(b);
  }
  return buf.length > max ? s + `...(${buf.length} bytes)` : s;
}

const [corpusFile, cFile, lFile, detailsFile] = process.argv.slice(2);
const inputs = new Map();
parseCorpus(fs.readFileSync(corpusFile), (n, d) => inputs.set(n, d));
const C = load(cFile), L = load(lFile);
const groups = new Map();
let total = 0, differ = 0;
const perClass = {};
for (const [name, input] of inputs) {
  total++;
  const c = C.get(name), l = L.get(name);
  if (!c || !l) throw new Error('missing transcript for ' + name);
  const d = classify(c, l);
  if (!d) continue;
  differ++;
  perClass[d.cls] = (perClass[d.cls] || 0) + 1;
  const key = d.cls + ' | ' + d.sig;
  if (!groups.has(key)) groups.set(key, []);
  groups.get(key).push({ name, input, c, l });
}

const order = ['c-framing', 'c-boundary', 'c-head', 'a', 'b', 'a~', 'b~', 'e'];
const keys = [...groups.keys()].sort((x, y) => {
  const d = order.indexOf(x.split(' | ')[0]) - order.indexOf(y.split(' | ')[0]);
  return d || groups.get(y).length - groups.get(x).length;
});
function show(ex, lines) {
  lines.push(`    case ${ex.name}: ${esc(ex.input)}`);
  lines.push(`      cmuduo: ${ex.c.reqs.map((r) => r.join(' ; ')).join(' || ')} => ${ex.c.end}`);
  lines.push(`      llhttp: ${ex.l.reqs.map((r) => r.join(' ; ')).join(' || ')} => ${ex.l.end}`);
}
const summary = [], details = [];
for (const k of keys) {
  const g = groups.get(k);
  const hand = g.filter((e) => !e.name.includes('~') && !e.name.startsWith('combo'));
  summary.push(`[${k}] ${g.length} case(s); hand-written: ${hand.map((e) => e.name).join(' ') || 'none'}`);
  const shown = hand.length ? hand.slice(0, 2) : g.slice(0, 1);
  for (const ex of shown) show(ex, summary);
  details.push(`[${k}] ${g.length} case(s)`);
  for (const ex of g) show(ex, details);
}
summary.push('');
summary.push(`${total} cases, ${total - differ} agree, ${differ} differ: ` +
             order.filter((c) => perClass[c]).map((c) => `${c}=${perClass[c]}`).join(' '));
process.stdout.write(summary.join('\n') + '\n');
if (detailsFile) fs.writeFileSync(detailsFile, details.join('\n') + '\n');
