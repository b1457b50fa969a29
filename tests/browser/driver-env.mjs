// What the page drivers (push.mjs, push-bare.mjs, pull.mjs) share: their required
// environment and the pin that makes chromium trust the test registry's certificate.

import { createHash, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** The environment variable `name`, which the driver cannot run without. */
export function required(name) {
  const v = process.env[name];
  if (!v) throw new Error(`environment variable ${name} is required`);
  return v;
}

/** The base64 sha256 of the PEM certificate's public key, for
 *  `--ignore-certificate-errors-spki-list`. */
export function spkiPin(pemPath) {
  const cert = new X509Certificate(readFileSync(pemPath));
  const der = cert.publicKey.export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('base64');
}
