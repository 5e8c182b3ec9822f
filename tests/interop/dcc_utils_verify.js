// Verify HC1 strings with dcc-utils (Ministero della Salute, Italy), an EU DCC verifier that shares no code
// with vaxlib. Input (stdin, JSON): {"certificates": ["-----BEGIN CERTIFICATE-----..."], "hc1": ["HC1:..."]}.
// Output (stdout, JSON): one {"ok": bool, "kid": base64, "payload": {...} | null, "error": str} per HC1.
const path = require('path');
const modules = process.env.DCC_UTILS_MODULES;
const { DCC } = require(modules ? path.join(modules, 'dcc-utils') : 'dcc-utils');

function plain(value) {
  if (value instanceof Map) {
    const out = {};
    for (const [k, v] of value) out[k] = plain(v);
    return out;
  }
  if (Array.isArray(value)) return value.map(plain);
  if (value instanceof Date) return value.toISOString();
  return value;
}

async function main() {
  const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
  const results = [];
  for (const text of input.hc1) {
    let dcc;
    try {
      dcc = await DCC.fromRaw(text);
    } catch (e) {
      results.push({ ok: false, kid: '', payload: null, error: `decode: ${e.message}` });
      continue;
    }
    let ok = false;
    let error = '';
    for (const pem of input.certificates) {
      try {
        await dcc.checkSignatureWithCertificate(pem);
        ok = true;
        break;
      } catch (e) {
        error = e.message;
      }
    }
    const kid = typeof dcc.kid === 'string' ? dcc.kid : (dcc.kid ? Buffer.from(dcc.kid).toString('base64') : '');
    results.push({ ok, kid, payload: plain(dcc.payload), error: ok ? '' : error });
  }
  process.stdout.write(JSON.stringify(results));
}

main().catch((e) => { console.error(e); process.exit(2); });
