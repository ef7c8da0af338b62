'use strict';
// Differential-test driver for Node's HTTP parser (llhttp, through the
// internal binding node:http uses), printing the same canonical form as
// cmuduo_dump.c for each case of a corpus read from stdin (format there).
//
// The parser is set up as node:http's server sets it up: request mode, no
// lenient flags, the default header size limit. node:http's server also
// answers 400 to an HTTP/1.1 request without a Host field (requireHostHeader,
// on by default): that check, which is not llhttp's, is applied here too and
// reported as "error 400 ... node:requireHostHeader".
//
// End states: idle, incomplete (finish() reports an unfinished message),
// closed (a message that does not keep the connection alive; what follows it
// is not parsed, as a server stops there), upgrade (CONNECT or Upgrade:
// llhttp hands the rest of the bytes to a tunnel), error <code> @<offset>.

process.noDeprecation = true;
const binding = process.binding('http_parser');
const { HTTPParser } = binding;
const allMethods = binding.allMethods || binding.methods; // older Node versions lack allMethods

function esc(s) {
  // s is a latin1 string (one char per byte) or a Buffer
  let out = '';
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = typeof s === 'string' ? s.charCodeAt(i) : s[i];
    if (c < 0x21 || c > 0x7e || c === 0x5c) out += '\\x' + c.toString(16).padStart(2, '0');
    else out += String.fromCharCode(c);
  }
  return out;
}

function fnv1a(buf) {
  let h = 0xcbf29ce484222325n;
  for (const b of buf) {
    h ^= BigInt(b);
    h = (h * 0x100000001b3n) & 0xffffffffffffffffn;
  }
  return h.toString(16).padStart(16, '0');
}

function runCase(name, data, out) {
  out.push('=== ' + name);
  const p = new HTTPParser();
  p.initialize(HTTPParser.REQUEST, {}, 0, 0);
  let cur = null;
  let closed = false;
  let upgrade = false;
  let hostError = false;
  const pending = { headers: [], url: '' };
  p[HTTPParser.kOnMessageBegin] = () => {
    cur = { head: null, headers: [], trailers: [], body: [], url: '' };
    pending.headers = [];
    pending.url = '';
  };
  p[HTTPParser.kOnHeaders] = (headers, url) => {
    if (cur && cur.head) cur.trailers.push(...headers);
    else {
      pending.headers.push(...headers);
      pending.url += url || '';
    }
  };
  p[HTTPParser.kOnHeadersComplete] = (maj, min, headers, method, url, _sc, _sm, upg, ka) => {
    if (!cur) cur = { head: null, headers: [], trailers: [], body: [], url: '' };
    cur.headers = pending.headers.concat(headers || []);
    cur.url = pending.url + (url || '');
    cur.head = { maj, min, method: allMethods[method] ?? `#${method}`, upg, ka };
    if (maj === 1 && min === 1) {
      let host = false;
      for (let i = 0; i < cur.headers.length; i += 2)
        if (cur.headers[i].toLowerCase() === 'host') host = true;
      if (!host) {
        hostError = true;
        return -1; // stops the parser: node:http answers 400 here
      }
    }
    return 0;
  };
  p[HTTPParser.kOnBody] = (b) => {
    if (cur) cur.body.push(Buffer.from(b));
  };
  p[HTTPParser.kOnMessageComplete] = () => {
    if (!cur || !cur.head || closed || upgrade) return;
    const h = cur.head;
    out.push(`REQ ${esc(h.method)} ${esc(cur.url)} ${h.maj}.${h.min} ka=${h.ka ? 1 : 0}`);
    for (let i = 0; i < cur.headers.length; i += 2)
      out.push(`H ${esc(cur.headers[i])}: ${esc(cur.headers[i + 1])}`);
    for (let i = 0; i < cur.trailers.length; i += 2)
      out.push(`T ${esc(cur.trailers[i])}: ${esc(cur.trailers[i + 1])}`);
    const body = Buffer.concat(cur.body);
    if (body.length > 0) out.push(`BODY ${body.length} ${fnv1a(body)}`);
    if (h.upg) upgrade = true;
    else if (!h.ka) closed = true;
    cur = null;
  };
  let ret;
  try {
    ret = p.execute(data);
  } catch (e) {
    ret = e;
  }
  if (hostError) out.push('END error 400 @? node:requireHostHeader');
  else if (upgrade) out.push('END upgrade');
  else if (closed) out.push('END closed');
  else if (ret instanceof Error) out.push(`END error ${ret.code} @${ret.bytesParsed} ${ret.reason}`);
  else {
    const fin = p.finish();
    out.push(fin instanceof Error ? 'END incomplete' : 'END idle');
  }
  p.close();
}

function parseCorpus(all, fn) {
  let pos = 0;
  while (pos < all.length) {
    const nl = all.indexOf(10, pos);
    const m = /^#CASE (\S+) (\d+)$/.exec(all.toString('latin1', pos, nl));
    if (nl < 0 || !m) throw new Error('bad record at byte ' + pos);
    const n = Number(m[2]);
    fn(m[1], all.subarray(nl + 1, nl + 1 + n));
    pos = nl + 1 + n + 1;
  }
}

if (require.main === module) {
  const all = require('fs').readFileSync(0);
  const out = [];
  parseCorpus(all, (name, data) => runCase(name, data, out));
  process.stdout.write(out.join('\n') + '\n');
}
module.exports = { parseCorpus };
