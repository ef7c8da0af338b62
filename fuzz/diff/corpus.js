'use strict';
// Writes the differential-test corpus to stdout: hand-written HTTP/1.x
// request edge cases, then seeded mutations of each. Record format: see
// cmuduo_dump.c. Usage: node corpus.js [seed] [mutants per case] [framing combinations]
//
// Every case carries "Host: h" unless it is about Host, so that the two
// parsers are compared on what the case is about.

const seed = Number(process.argv[2] || 1) >>> 0 || 1;
const perCase = Number(process.argv[3] || 20);

const CRLF = '\r\n';
const H = 'Host: h';
const NEXT = 'GET /next HTTP/1.1' + CRLF + H + CRLF + CRLF; // a pipelined follower

// A request from its lines (request line and field lines) and a body.
function req(lines, body = '') {
  return lines.join(CRLF) + CRLF + CRLF + body;
}
function post(fields, body, follow = NEXT) {
  return req(['POST / HTTP/1.1', H, ...fields], body) + follow;
}
const CHUNKED_BODY = '5' + CRLF + 'hello' + CRLF + '0' + CRLF + CRLF;

const cases = [];
function add(name, s) {
  cases.push([name, Buffer.from(s, 'latin1')]);
}

// ---- basics and line endings
add('plain', req(['GET / HTTP/1.1', H]));
add('plain_pipelined3', req(['GET /a HTTP/1.1', H]) + req(['GET /b HTTP/1.1', H]) + NEXT);
add('lf_only', 'GET / HTTP/1.1\nHost: h\n\n');
add('lf_after_request_line', 'GET / HTTP/1.1\nHost: h\r\n\r\n');
add('lf_in_header', 'GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n');
add('lf_end_of_head', 'GET / HTTP/1.1\r\nHost: h\r\n\n');
add('cr_only_header', 'GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n');
add('cr_in_value', 'GET / HTTP/1.1\r\nHost: h\r\nX: a\rb\r\n\r\n');
add('cr_request_line', 'GET / HTTP/1.1\rHost: h\r\n\r\n');
add('cr_cr_lf', 'GET / HTTP/1.1\r\r\nHost: h\r\n\r\n');
add('cr_end_of_head', 'GET / HTTP/1.1\r\nHost: h\r\n\r\r\n');
add('leading_crlf', CRLF + CRLF + req(['GET / HTTP/1.1', H]));
add('leading_lf', '\n' + req(['GET / HTTP/1.1', H]));
add('leading_space', ' ' + req(['GET / HTTP/1.1', H]));
add('crlf_between', req(['GET /a HTTP/1.1', H]) + CRLF + NEXT);
add('trailing_crlf', req(['GET / HTTP/1.1', H]) + CRLF);
add('cl_body_lf_bare_end', post(['Content-Length: 5'], 'hello', '\n' + NEXT));

// ---- obs-fold and whitespace around names
add('obs_fold_sp', req(['GET / HTTP/1.1', H, 'X: a', ' b']));
add('obs_fold_tab', req(['GET / HTTP/1.1', H, 'X: a', '\tb']));
add('obs_fold_first', req(['GET / HTTP/1.1', ' X: a', H]));
add('obs_fold_cl', post(['Content-Length:', ' 5'], 'hello'));
add('obs_fold_te', post(['Transfer-Encoding: gzip,', ' chunked'], CHUNKED_BODY));
add('ws_before_colon', req(['GET / HTTP/1.1', H, 'X : y']));
add('tab_before_colon', req(['GET / HTTP/1.1', H, 'X\t: y']));
add('ws_before_colon_cl', post(['Content-Length : 5'], 'hello'));
add('ws_before_colon_te', post(['Transfer-Encoding : chunked'], CHUNKED_BODY));
add('ws_before_colon_host', req(['GET / HTTP/1.1', 'Host : h']));
add('ws_in_name', req(['GET / HTTP/1.1', H, 'X Y: z']));
add('empty_name', req(['GET / HTTP/1.1', H, ': z']));
add('no_colon', req(['GET / HTTP/1.1', H, 'Xyz']));
add('empty_value', req(['GET / HTTP/1.1', H, 'X:']));
add('blank_value', req(['GET / HTTP/1.1', H, 'X: \t ']));
add('value_tabs', req(['GET / HTTP/1.1', H, 'X:\ta\tb\t']));
add('value_trailing_ws', req(['GET / HTTP/1.1', 'Host: h  ', 'X: a b   ']));
add('value_colons', req(['GET / HTTP/1.1', H, 'X: a:b::']));

// ---- bytes in names and values
for (const [n, c] of [['nul', '\0'], ['soh', '\x01'], ['vt', '\x0b'], ['ff', '\x0c'],
                      ['esc', '\x1b'], ['del', '\x7f'], ['x80', '\x80'], ['xff', '\xff'],
                      ['utf8', '\xc3\xa9'], ['quote', '"'], ['at', '@'], ['paren', '('],
                      ['slash', '/'], ['brace', '{'], ['lbracket', '['], ['comma', ','],
                      ['semicolon', ';'], ['eq', '=']]) {
  add('value_' + n, req(['GET / HTTP/1.1', H, 'X: a' + c + 'b']));
  add('name_' + n, req(['GET / HTTP/1.1', H, 'X' + c + 'Y: z']));
}
for (const c of "!#$%&'*+-.^_`|~") add('name_tchar_' + c.charCodeAt(0), req(['GET / HTTP/1.1', H, 'X' + c + ': z']));
add('body_nul', post(['Content-Length: 5'], 'h\0l\r\n'));

// ---- Content-Length
const CLS = {
  plain: '5', plus: '+5', minus: '-5', lead_sp: '  5', trail_sp: '5  ', lead_tab: '\t5',
  list_same: '5,5', list_same_sp: '5, 5', list_diff: '5,6', list_diff2: '6, 5',
  list_trailing_comma: '5,', list_leading_comma: ',5', list_empty_elem: '5,,5',
  zeros: '05', many_zeros: '0000000005', hex: '0x5', decimal: '5.0', suffix: '5a', empty: '',
  exp: '1e1', inner_space: '5 5', huge: '99999999999999999999', u64_wrap: '18446744073709551621',
  u32_wrap: '4294967301', max_body: '1048576', over_max_body: '1048577', zero: '0',
  quoted: '"5"', utf8_digit: '\xd9\xa5',
};
for (const [n, v] of Object.entries(CLS)) add('cl_' + n, post(['Content-Length: ' + v], 'hello'));
add('cl_two_same', post(['Content-Length: 5', 'Content-Length: 5'], 'hello'));
add('cl_two_same_zeros', post(['Content-Length: 5', 'Content-Length: 005'], 'hello'));
add('cl_two_diff', post(['Content-Length: 5', 'Content-Length: 6'], 'hello!'));
add('cl_two_one_empty', post(['Content-Length: 5', 'Content-Length:'], 'hello'));
add('cl_upper_name', post(['CONTENT-LENGTH: 5'], 'hello'));
add('cl_get_body', req(['GET / HTTP/1.1', H, 'Content-Length: 5'], 'hello') + NEXT);
add('cl_head_body', req(['HEAD / HTTP/1.1', H, 'Content-Length: 5'], 'hello') + NEXT);
add('cl_zero_then_bytes', post(['Content-Length: 0'], '', 'hello' + NEXT));
add('cl_short_body', post(['Content-Length: 10'], 'hello', ''));
add('cl_http10', req(['POST / HTTP/1.0', 'Content-Length: 5', 'Connection: keep-alive'], 'hello') + NEXT);
add('no_cl_post', req(['POST / HTTP/1.1', H], 'hello') + NEXT);
add('no_cl_post10', req(['POST / HTTP/1.0', H], 'hello'));

// ---- Transfer-Encoding
const TES = {
  chunked: 'chunked', Chunked: 'Chunked', CHUNKED: 'CHUNKED', trail_sp: 'chunked ',
  trail_tab: 'chunked\t', lead_sp: '  chunked', chunked_chunked: 'chunked, chunked',
  chunked_chunked_nosp: 'chunked,chunked', gzip_chunked: 'gzip, chunked',
  xgzip_chunked: 'x-gzip,chunked', deflate_chunked: 'deflate, chunked',
  identity_chunked: 'identity, chunked', chunked_gzip: 'chunked, gzip', gzip: 'gzip',
  identity: 'identity', chunkedx: 'chunkedx', xchunked: 'xchunked', chunked_param: 'chunked;q=1',
  chunked_param_sp: 'chunked ; q=1', lead_comma: ',chunked', trail_comma: 'chunked,',
  commas: ', , chunked', empty: '', quoted: '"chunked"', vt: '\x0bchunked',
  chunked_nul: 'chunked\0', unknown_chunked: 'foo, chunked', chunked_space_chunked: 'chunked chunked',
  chunk: 'chunk', chunked_utf8: 'chunked\xc2\xa0', gzip_param_chunked: 'gzip;q=1, chunked',
};
for (const [n, v] of Object.entries(TES)) add('te_' + n, post(['Transfer-Encoding: ' + v], CHUNKED_BODY));
add('te_two_fields', post(['Transfer-Encoding: gzip', 'Transfer-Encoding: chunked'], CHUNKED_BODY));
add('te_two_chunked_fields', post(['Transfer-Encoding: chunked', 'Transfer-Encoding: chunked'], CHUNKED_BODY));
add('te_chunked_then_gzip_field', post(['Transfer-Encoding: chunked', 'Transfer-Encoding: gzip'], CHUNKED_BODY));
add('te_chunked_then_empty_field', post(['Transfer-Encoding: chunked', 'Transfer-Encoding:'], CHUNKED_BODY));
add('te_cl_first', post(['Content-Length: 5', 'Transfer-Encoding: chunked'], CHUNKED_BODY));
add('te_cl_after', post(['Transfer-Encoding: chunked', 'Content-Length: 5'], CHUNKED_BODY));
add('te_cl_gzip', post(['Transfer-Encoding: gzip', 'Content-Length: 5'], 'hello'));
add('te_http10', req(['POST / HTTP/1.0', H, 'Transfer-Encoding: chunked', 'Connection: keep-alive'], CHUNKED_BODY) + NEXT);
add('te_http10_identity', req(['POST / HTTP/1.0', H, 'Transfer-Encoding: identity'], 'hello'));
add('te_get', req(['GET / HTTP/1.1', H, 'Transfer-Encoding: chunked'], CHUNKED_BODY) + NEXT);
add('te_name_upper', post(['TRANSFER-ENCODING: chunked'], CHUNKED_BODY));
add('te_name_underscore', post(['Transfer_Encoding: chunked'], CHUNKED_BODY));

// ---- chunked bodies
function chunked(body) { return post(['Transfer-Encoding: chunked'], body); }
const CH = {
  ext: '5;a=1\r\nhello\r\n0\r\n\r\n',
  ext_bare: '5;a\r\nhello\r\n0\r\n\r\n',
  ext_empty: '5;\r\nhello\r\n0\r\n\r\n',
  ext_ws: '5 ; a = 1\r\nhello\r\n0\r\n\r\n',
  ext_quoted: '5;a="b;c"\r\nhello\r\n0\r\n\r\n',
  ext_quoted_escape: '5;a="b\\"c"\r\nhello\r\n0\r\n\r\n',
  ext_quoted_open: '5;a="b\r\nhello\r\n0\r\n\r\n',
  ext_many: '5;a=1;b;c="x"\r\nhello\r\n0\r\n\r\n',
  ext_cr: '5;a=1\rb\r\nhello\r\n0\r\n\r\n',
  ext_lf: '5;a=1\nb\r\nhello\r\n0\r\n\r\n',
  ext_nonascii: '5;a=\xff\r\nhello\r\n0\r\n\r\n',
  ext_last: '5\r\nhello\r\n0;a=1\r\n\r\n',
  lead_zero: '05\r\nhello\r\n0\r\n\r\n',
  many_zeros: '0000000000000000000005\r\nhello\r\n0\r\n\r\n',
  last_zeros: '5\r\nhello\r\n000\r\n\r\n',
  hex_upper: 'A\r\nhellohello\r\n0\r\n\r\n',
  hex_lower: 'a\r\nhellohello\r\n0\r\n\r\n',
  hex_0x: '0x5\r\nhello\r\n0\r\n\r\n',
  plus: '+5\r\nhello\r\n0\r\n\r\n',
  minus: '-5\r\nhello\r\n0\r\n\r\n',
  lead_sp: ' 5\r\nhello\r\n0\r\n\r\n',
  trail_sp: '5 \r\nhello\r\n0\r\n\r\n',
  trail_tab: '5\t\r\nhello\r\n0\r\n\r\n',
  empty_size: '\r\nhello\r\n0\r\n\r\n',
  overflow17: '10000000000000005\r\nhello\r\n0\r\n\r\n',
  overflow_ff: 'ffffffffffffffffff\r\nhello\r\n0\r\n\r\n',
  u64_max: 'ffffffffffffffff\r\nhello\r\n0\r\n\r\n',
  big: '100000000\r\nhello\r\n0\r\n\r\n',
  over_max_body: '100001\r\nhello\r\n0\r\n\r\n',
  lf_size: '5\nhello\r\n0\r\n\r\n',
  lf_after_data: '5\r\nhello\n0\r\n\r\n',
  cr_after_data: '5\r\nhello\r0\r\n\r\n',
  no_crlf_after_data: '5\r\nhello0\r\n\r\n',
  extra_after_data: '5\r\nhelloXX\r\n0\r\n\r\n',
  short_data: '5\r\nhell\r\n0\r\n\r\n',
  missing_final_crlf: '5\r\nhello\r\n0\r\n',
  last_lf_only: '5\r\nhello\r\n0\r\n\n',
  last_lf_lf: '5\r\nhello\r\n0\n\n',
  trailers: '5\r\nhello\r\n0\r\nA: 1\r\nB: 2\r\n\r\n',
  trailer_cl: '5\r\nhello\r\n0\r\nContent-Length: 3\r\n\r\n',
  trailer_te: '5\r\nhello\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n',
  trailer_fold: '5\r\nhello\r\n0\r\nA: 1\r\n 2\r\n\r\n',
  trailer_ws_colon: '5\r\nhello\r\n0\r\nA : 1\r\n\r\n',
  trailer_no_colon: '5\r\nhello\r\n0\r\nA\r\n\r\n',
  trailer_lf: '5\r\nhello\r\n0\r\nA: 1\n\r\n',
  trailer_nul: '5\r\nhello\r\n0\r\nA: \0\r\n\r\n',
  two_chunks: '2\r\nhe\r\n3\r\nllo\r\n0\r\n\r\n',
  zero_len_data: '0\r\n\r\n',
  only_size: '5\r\nhello\r\n',
  no_last_chunk: '5\r\nhello\r\n\r\n',
  size_nul: '5\0\r\nhello\r\n0\r\n\r\n',
  size_x80: '5\x80\r\nhello\r\n0\r\n\r\n',
  size_semicolon_only: ';\r\nhello\r\n0\r\n\r\n',
};
for (const [n, v] of Object.entries(CH)) add('chunk_' + n, chunked(v));

// ---- request line: methods, targets, versions
for (const m of ['get', 'Get', 'FOO', 'M-SEARCH', 'PURGE', 'QUERY', 'PROPFIND', 'LINK', 'PRI',
                 'G@T', 'GE\x80T', 'G\0T', 'G"T', 'GET!', 'X'.repeat(64), '_', 'DELETE'])
  add('method_' + Buffer.from(m, 'latin1').toString('hex').slice(0, 24), req([m + ' / HTTP/1.1', H]));
const TARGETS = {
  star_options: ['OPTIONS', '*'], star_get: ['GET', '*'], abs_http: ['GET', 'http://h/a?b'],
  abs_noslash: ['GET', 'http://h'], abs_upper: ['GET', 'HTTP://H/'], abs_port: ['GET', 'https://h:8080/x?y'],
  abs_weird_scheme: ['GET', 'a+b-c.d://h/'], abs_bad_scheme: ['GET', '1http://h/'],
  relative: ['GET', 'a/b'], double_slash: ['GET', '//x'], query_only: ['GET', '?x'],
  fragment: ['GET', '/a#f'], pct_nul: ['GET', '/%00'], del: ['GET', '/\x7f'], x80: ['GET', '/\x80'],
  utf8: ['GET', '/\xc3\xa9'], nul: ['GET', '/a\0b'], tab: ['GET', '/a\tb'], quote: ['GET', '/a"b'],
  lt: ['GET', '/<x>'], backslash: ['GET', '/a\\b'], brace: ['GET', '/{x}'], pipe: ['GET', '/a|b'],
  caret: ['GET', '/^'], backtick: ['GET', '/`'],
  connect_authority: ['CONNECT', 'h:443'], connect_noport: ['CONNECT', 'h'], connect_path: ['CONNECT', '/x'],
  connect_ipv6: ['CONNECT', '[::1]:80'], connect_abs: ['CONNECT', 'http://h:1'], connect_star: ['CONNECT', '*'],
  connect_emptyport: ['CONNECT', 'h:'], get_authority: ['GET', 'h:443'], options_abs: ['OPTIONS', 'http://h'],
};
for (const [n, [m, t]] of Object.entries(TARGETS)) add('target_' + n, req([m + ' ' + t + ' HTTP/1.1', H]));
add('connect_pipelined', req(['CONNECT h:443 HTTP/1.1', 'Host: h:443']) + NEXT);
add('connect_cl', req(['CONNECT h:443 HTTP/1.1', 'Host: h:443', 'Content-Length: 5'], 'hello') + NEXT);
add('connect_cl0', req(['CONNECT h:443 HTTP/1.1', 'Host: h:443', 'Content-Length: 0']) + NEXT);
add('connect_te', req(['CONNECT h:443 HTTP/1.1', 'Host: h:443', 'Transfer-Encoding: chunked'], CHUNKED_BODY) + NEXT);
add('connect_http10_cl', req(['CONNECT h:443 HTTP/1.0', 'Content-Length: 5'], 'hello') + NEXT);
add('upgrade_ws', req(['GET / HTTP/1.1', H, 'Upgrade: websocket', 'Connection: Upgrade']) + NEXT);
add('upgrade_no_conn', req(['GET / HTTP/1.1', H, 'Upgrade: websocket']) + NEXT);
add('upgrade_cl', req(['POST / HTTP/1.1', H, 'Upgrade: websocket', 'Connection: Upgrade', 'Content-Length: 5'], 'hello') + NEXT);
const RL = {
  double_sp1: 'GET  / HTTP/1.1', double_sp2: 'GET /  HTTP/1.1', tab_sep: 'GET\t/\tHTTP/1.1',
  trail_sp: 'GET / HTTP/1.1 ', lead_sp: ' GET / HTTP/1.1', no_version: 'GET /', no_target: 'GET HTTP/1.1',
  space_in_target: 'GET /a b HTTP/1.1', only_method: 'GET', empty_target: 'GET  HTTP/1.1',
  v09: 'GET / HTTP/0.9', v10: 'GET / HTTP/1.0', v12: 'GET / HTTP/1.2', v19: 'GET / HTTP/1.9',
  v110: 'GET / HTTP/1.10', v20: 'GET / HTTP/2.0', v30: 'GET / HTTP/3.0', v1: 'GET / HTTP/1',
  v11x: 'GET / HTTP/1.1x', lower: 'GET / http/1.1', v011: 'GET / HTTP/01.1', v1_1: 'GET / HTTP/1,1',
  hts: 'GET / HTTPS/1.1', v00: 'GET / HTTP/0.0', v90: 'GET / HTTP/9.0',
};
for (const [n, l] of Object.entries(RL)) add('rl_' + n, req([l, H]) + NEXT);
add('pri_h2_preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

// ---- Host
add('host_missing11', req(['GET / HTTP/1.1']));
add('host_missing10', req(['GET / HTTP/1.0']));
add('host_two', req(['GET / HTTP/1.1', H, 'Host: i']));
add('host_two_same', req(['GET / HTTP/1.1', H, H]));
add('host_empty', req(['GET / HTTP/1.1', 'Host:']));
add('host_space', req(['GET / HTTP/1.1', 'Host: a b']));
add('host_slash', req(['GET / HTTP/1.1', 'Host: a/b']));
add('host_at', req(['GET / HTTP/1.1', 'Host: u@a']));
add('host_port', req(['GET / HTTP/1.1', 'Host: a:80']));
add('host_ipv6', req(['GET / HTTP/1.1', 'Host: [::1]:80']));
add('host_abs_mismatch', req(['GET http://a/ HTTP/1.1', 'Host: b']));

// ---- connection semantics
add('conn_close', req(['GET / HTTP/1.1', H, 'Connection: close']) + NEXT);
add('conn_Close', req(['GET / HTTP/1.1', H, 'Connection: CLOSE']) + NEXT);
add('conn_close_list', req(['GET / HTTP/1.1', H, 'Connection: keep-alive, close']) + NEXT);
add('conn_closed', req(['GET / HTTP/1.1', H, 'Connection: closed']) + NEXT);
add('conn_x_close', req(['GET / HTTP/1.1', H, 'Connection: x-close']) + NEXT);
add('conn_two_fields', req(['GET / HTTP/1.1', H, 'Connection: foo', 'Connection: close']) + NEXT);
add('v10_keepalive', req(['GET / HTTP/1.0', 'Connection: keep-alive']) + NEXT);
add('v10_keepalive_upper', req(['GET / HTTP/1.0', 'Connection: Keep-Alive']) + NEXT);
add('v10_plain', req(['GET / HTTP/1.0']) + NEXT);
add('expect_100', post(['Expect: 100-continue', 'Content-Length: 5'], 'hello'));

// ---- limits
function longTarget(n) { return '/' + 'a'.repeat(n - 1); }
for (const d of [-1, 0, 1]) {
  const rlen = 8192 + d; // request line without CRLF
  add('long_request_line_' + rlen, req(['GET ' + longTarget(rlen - 13) + ' HTTP/1.1', H]));
}
for (const n of [8100, 16300, 16400, 20000]) add('long_value_' + n, req(['GET / HTTP/1.1', H, 'X: ' + 'v'.repeat(n)]));
add('long_name_9000', req(['GET / HTTP/1.1', H, 'X'.repeat(9000) + ': v']));
for (const n of [99, 100, 101, 200]) {
  const f = [];
  for (let i = 0; i < n - 1; i++) f.push('X' + i + ': ' + i);
  add('headers_' + n, req(['GET / HTTP/1.1', H, ...f]));
}
add('long_chunk_ext', chunked('5;' + 'a'.repeat(2000) + '\r\nhello\r\n0\r\n\r\n'));
add('long_chunk_zeros', chunked('0'.repeat(2000) + '5\r\nhello\r\n0\r\n\r\n'));

// ---- pipelines with bodies
add('pipe_cl_chunked_cl',
    post(['Content-Length: 5'], 'hello', '') + post(['Transfer-Encoding: chunked'], CHUNKED_BODY, '') +
    post(['Content-Length: 3'], 'abc'));
add('pipe_body_looks_like_request', post(['Content-Length: 18'], 'GET /x HTTP/1.1\r\n\r\n'.slice(0, 18)));
add('pipe_chunk_data_looks_like_request', chunked('12\r\nGET /x HTTP/1.1\r\n\r\n\r\n0\r\n\r\n'));
add('pipe_smuggle_cl_te', post(['Content-Length: 4', 'Transfer-Encoding: chunked'], '0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n'));
add('pipe_http10_then_11', req(['GET / HTTP/1.0', 'Connection: keep-alive']) + NEXT + NEXT);

// ---- mutations and combinations (seeded)
let rng = seed;
function rand(n) {
  rng ^= rng << 13; rng >>>= 0;
  rng ^= rng >>> 17;
  rng ^= rng << 5; rng >>>= 0;
  return rng % n;
}
const INSERTS = ['\r', '\n', ' ', '\t', ',', '\0', ';', '0', ':', '"', '\r\n', '\x0b', '\xff', '-', '+'];
function mutate(buf) {
  let b = Buffer.from(buf);
  const ops = 1 + rand(3);
  for (let k = 0; k < ops; k++) {
    const pos = b.length ? rand(b.length) : 0;
    switch (rand(6)) {
      case 0: // flip a bit
        if (b.length) b[pos] ^= 1 << rand(8);
        break;
      case 1:
      case 2: // insert a separator-ish byte
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(INSERTS[rand(INSERTS.length)], 'latin1'), b.subarray(pos)]);
        break;
      case 3: // delete a byte
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + 1)]);
        break;
      case 4: { // duplicate a line (a header line, most often)
        const s = b.toString('latin1');
        const starts = [0];
        for (let i = s.indexOf('\n'); i >= 0 && i + 1 < s.length; i = s.indexOf('\n', i + 1)) starts.push(i + 1);
        if (starts.length < 2) break;
        const li = 1 + rand(starts.length - 1);
        const end = li + 1 < starts.length ? starts[li + 1] : s.length;
        b = Buffer.concat([b.subarray(0, end), b.subarray(starts[li], end), b.subarray(end)]);
        break;
      }
      default: { // change a letter's case or a digit
        if (!b.length) break;
        const c = b[pos];
        if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a)) b[pos] = c ^ 0x20;
        else if (c >= 0x30 && c <= 0x39) b[pos] = 0x30 + rand(10);
        else b[pos] = INSERTS[rand(INSERTS.length)].charCodeAt(0);
      }
    }
  }
  return b;
}
// Framing combinations: 1-3 framing field lines drawn from a pool (names in
// odd case, odd spacing), one of several bodies, then a pipelined request:
// where the two parsers could disagree on where a request ends.
const FRAMING = [
  'Content-Length: 5', 'Content-Length: 0', 'Content-Length: 10', 'Content-Length: 5, 5',
  'Content-Length: 05', 'Content-Length:5', 'content-length: 5 ', 'Content-Length: 5\t',
  'Transfer-Encoding: chunked', 'transfer-encoding: CHUNKED', 'Transfer-Encoding: chunked ',
  'Transfer-Encoding: gzip, chunked', 'Transfer-Encoding: chunked, gzip', 'Transfer-Encoding: identity',
  'Transfer-Encoding: ,chunked', 'Transfer-Encoding:chunked', 'Transfer-Encoding: chunked;a=b',
  'Connection: close', 'Connection: keep-alive', 'Expect: 100-continue', 'Upgrade: x',
  'Content-Length : 5', 'Transfer-Encoding : chunked', 'X: y\r\n Transfer-Encoding: chunked',
];
const BODIES = [
  '', 'hello', CHUNKED_BODY, '5;x=y\r\nhello\r\n0\r\n\r\n', '5\r\nhello\r\n0\r\nT: 1\r\n\r\n',
  '0\r\n\r\n', 'hellohello', '005\r\nhello\r\n0\r\n\r\n', 'a\r\nhellohello\r\n0\r\n\r\n',
  '5\r\nhello\r\n0\r\n\r\n\r\n',
];
const STARTS = ['POST / HTTP/1.1', 'GET / HTTP/1.1', 'POST / HTTP/1.0', 'HEAD / HTTP/1.1',
                'CONNECT h:1 HTTP/1.1', 'OPTIONS * HTTP/1.1', 'POST http://h/ HTTP/1.1'];
const combos = Number(process.argv[4] || 1000);
for (let i = 0; i < combos; i++) {
  const fields = [];
  for (let k = 1 + rand(3); k > 0; k--) fields.push(FRAMING[rand(FRAMING.length)]);
  const lines = [STARTS[rand(STARTS.length)], H, ...fields];
  add(`combo${i}`, req(lines, BODIES[rand(BODIES.length)]) + NEXT);
}

const base = cases.filter(([n]) => !n.startsWith('combo'));
for (const [name, buf] of base) {
  for (let i = 0; i < perCase; i++) cases.push([`${name}~m${i}`, mutate(buf)]);
}

const out = [];
for (const [name, buf] of cases) {
  out.push(Buffer.from(`#CASE ${name} ${buf.length}\n`, 'latin1'), buf, Buffer.from('\n'));
}
process.stdout.write(Buffer.concat(out));
process.stderr.write(`corpus: ${base.length} hand-written cases, ${combos} framing combinations, ` +
                     `${cases.length - base.length - combos} mutants: ${cases.length} in all (seed ${seed})\n`);
