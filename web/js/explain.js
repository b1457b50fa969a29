// What went wrong, in words people can act on. The class of an error is the core's (the
// push API's `.code`: `input`, `auth`, `not_found`, `registry`, `network`, `cors`, `cancelled`, and
// `usage` for an option out of range, which the page's fields never send: "other"); the facts
// tug-wasm adds (`.status`, `.registryCodes`, `.transport`, `.excerpt`) pick the case within
// it: unreachable, certificate not trusted, CORS, credentials, denied, not found, too large or
// over quota, a registry that is down, content that does not match its digest. Plain text
// only; the page renders it with textContent.

/** The page that explains trusting a private CA (served by `tug web`). */
export const TRUST_CA_PAGE = 'docs/trust-private-ca.html';

/**
 * Which case of its class an error is.
 * @param {string} code   the error's `.code`
 * @param {object} detail `{ status, registryCodes, transport, message }` from the error
 * @returns {string} one of `cors`, `mixed-content`, `tls`, `timeout`, `unreachable`, `auth`,
 *   `denied`, `not-found`, `too-large`, `registry-down`, `registry`, `corrupt`, `input`,
 *   `cancelled`, `other`
 */
export function caseOf(code, detail = {}) {
  const status = Number(detail.status) || 0;
  const codes = Array.isArray(detail.registryCodes) ? detail.registryCodes : [];
  const message = String(detail.message ?? '');
  switch (code) {
    case 'cors':
      return 'cors';
    case 'network':
      if (detail.transport === 'mixed-content') return 'mixed-content';
      if (detail.transport === 'tls' || detail.transport === 'not-tls') return 'tls';
      if (detail.transport === 'timeout') return 'timeout';
      return 'unreachable';
    case 'auth':
      return status === 403 || codes.includes('DENIED') || /\bdenied\b/i.test(message) ? 'denied' : 'auth';
    case 'not_found':
      return 'not-found';
    case 'registry':
      if (status === 413 || codes.includes('SIZE_INVALID') || /quota|too large|storage limit/i.test(message)) return 'too-large';
      if (status === 404 || codes.some((c) => ['NAME_UNKNOWN', 'NAME_INVALID', 'MANIFEST_UNKNOWN'].includes(c))) return 'not-found';
      if (status >= 500) return 'registry-down';
      return 'registry';
    case 'input':
      // The core's words for bytes that do not hash to their digest (a digest mismatch).
      return /content does not match its digest/.test(message) ? 'corrupt' : 'input';
    case 'cancelled':
      return code;
    default:
      return 'other';
  }
}

/**
 * The message to show: the core's, with a body excerpt that is markup (a proxy's HTML error
 * page) turned into a short line of its text, and no markup left at all.
 * @param {string} message  the error's message
 * @param {string} [excerpt] the error's `.excerpt`
 */
export function cleanMessage(message, excerpt) {
  let text = String(message ?? '');
  if (typeof excerpt === 'string' && /<[a-z!/]/i.test(excerpt)) {
    const words = excerpt.replace(/<[^>]*>?/g, ' ').replace(/&[a-z]+;/gi, ' ').replace(/\s+/g, ' ').trim().slice(0, 80);
    text = text.replace(excerpt, words ? `an HTML page ("${words}")` : 'an HTML page');
  }
  return text.replace(/<[^>]*>/g, ' ').replace(/\s+/g, ' ').trim();
}

/**
 * @param {string} code  the error's `.code`
 * @param {object} ctx   `{ registry, pageOrigin, repository, plainHttp, target }`: the registry's
 *                       origin (e.g. `https://registry.example.com`), this page's origin, …
 * @param {object} [detail] the error's facts (see `caseOf`)
 * @returns {{ kind: string, title: string, paragraphs: string[], tips: string[], snippet?: string, link?: {href: string, text: string} }}
 */
export function explain(code, ctx = {}, detail = {}) {
  const kind = caseOf(code, detail);
  const pulled = ctx.operation === 'pull' ? explainPull(kind, ctx, detail) : null;
  return { kind, ...(pulled ?? explainCase(kind, ctx, detail)) };
}

/** The cases whose words differ for a pull (`ctx.operation === 'pull'`); null: as for a push. */
function explainPull(kind, ctx, detail) {
  const registry = ctx.registry || 'the registry';
  const image = ctx.target || 'the image';
  const status = Number(detail.status) || 0;
  switch (kind) {
    case 'not-found':
      return {
        title: 'The registry has no such image',
        paragraphs: [`${registry} has no ${image}: the repository or the tag is not there.`],
        tips: ['Check the repository and tag (skopeo list-tags or tug tags lists the tags).'],
      };
    case 'registry':
      return {
        title: 'The registry refused the pull',
        paragraphs: [`${registry} answered with an error${status ? ` (${status})` : ''}; its code and message are above.`],
        tips: ['The registry\'s message says what it wants; its logs say more.'],
      };
    case 'corrupt':
      return {
        title: 'The registry sent damaged content',
        paragraphs: [`What ${registry} sent for ${image} does not match the digest that names it (above), so nothing was kept.`],
        tips: [
          'Retry: a proxy or cache on the way may have changed one answer.',
          'If it fails again, the registry\'s stored copy is damaged: push the image to it again.',
        ],
      };
    case 'input':
      return {
        title: 'The image could not be saved',
        paragraphs: ['The image, or the file it was being written to, could not be used; the message above says which. Nothing was kept.'],
        tips: ['A multi-platform image is saved one platform at a time: choose one.', 'Check that the disk has room for the image.'],
      };
    case 'cancelled':
      return {
        title: 'Pull cancelled',
        paragraphs: ['The pull was stopped and its file discarded. Retry starts it again.'],
        tips: [],
      };
    case 'other':
      return { title: 'The pull failed', paragraphs: ['Something unexpected went wrong; the message is above.'], tips: [] };
    default:
      return null;
  }
}

function explainCase(kind, ctx, detail) {
  const registry = ctx.registry || 'the registry';
  const page = ctx.pageOrigin || 'this page';
  const repository = ctx.repository || 'the repository';
  const status = Number(detail.status) || 0;
  switch (kind) {
    case 'cors':
      return {
        title: 'The browser blocked the registry (CORS)',
        paragraphs: [
          `${registry} answered, but it does not allow pages from ${page} to use it, so the ` +
            'browser withheld its answers. Before a page may upload, the browser asks the registry ' +
            'with a preflight OPTIONS request, and every answer must carry ' +
            `Access-Control-Allow-Origin for ${page}. A plain distribution registry does neither ` +
            '(it answers the preflight with 401 when it has auth).',
          'Fix it on the registry side: put nginx in front of it with the configuration in ' +
            'docs/nginx-cors.conf (tested by tug\'s browser tests). It answers preflights itself and ' +
            'adds the CORS headers to every answer, errors included. Add this page\'s origin to its map:',
        ],
        snippet:
          'map $http_origin $registry_cors_origin {\n' +
          '    default "";\n' +
          `    "${page}" $http_origin;\n` +
          '}\n' +
          '# in location /v2/ — see docs/nginx-cors.conf for the complete server block:\n' +
          'if ($request_method = OPTIONS) {\n' +
          '    add_header Access-Control-Allow-Origin $registry_cors_origin always;\n' +
          '    add_header Access-Control-Allow-Methods "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS" always;\n' +
          '    add_header Access-Control-Allow-Headers "Authorization, Content-Type, Content-Range, Range, Accept" always;\n' +
          '    return 204;\n' +
          '}\n' +
          'add_header Access-Control-Allow-Origin $registry_cors_origin always;\n' +
          'add_header Access-Control-Expose-Headers "Location, Range, Docker-Upload-UUID, Docker-Content-Digest, WWW-Authenticate" always;',
        tips: [
          'A registry with token auth sends the browser to its token server too: that server needs the same headers.',
          'The browser\'s developer console names the refused request ("blocked by CORS policy").',
          'Or push from a terminal, where CORS does not apply: tug push IMAGE.tar ' + (ctx.target || 'REGISTRY/REPO:TAG'),
        ],
      };
    case 'auth':
      return {
        title: 'The registry refused the credentials',
        paragraphs: [
          `${registry} did not accept the user name and password for ${repository}.`,
        ],
        tips: [
          'Check the user name and the password or access token (some registries, Docker Hub among them, want an access token instead of the password).',
          'A registry that allows anonymous pulls still needs credentials to push.',
        ],
      };
    case 'denied':
      return {
        title: 'Access denied',
        paragraphs: [
          `${registry} knows the account, but it may not push to ${repository}.`,
        ],
        tips: [
          `Ask for push permission on ${repository}; on registries with projects or namespaces the project must exist.`,
          'Check the repository name: a typo names a repository the account cannot write to.',
        ],
      };
    case 'unreachable':
      return {
        title: 'Could not reach the registry',
        paragraphs: [
          `The browser could not connect to ${registry}, or the connection kept failing until the retries ran out.`,
        ],
        tips: [
          ctx.plainHttp
            ? 'Check the URL and that the registry is running. You asked for plain HTTP (http://): if the registry uses TLS, use https:// instead.'
            : `Check the URL and that the registry is running. If its certificate comes from a private CA, this browser must trust that CA: open ${registry}/v2/ in a new tab to see what the browser says (see ${TRUST_CA_PAGE}).`,
          'A page served over https:// cannot use a registry on http:// (mixed content).',
        ],
        link: ctx.plainHttp ? undefined : { href: TRUST_CA_PAGE, text: 'Trusting a private CA in Chromium and Firefox' },
      };
    case 'tls':
      return {
        title: 'The browser does not trust the registry\'s certificate',
        paragraphs: [
          `${registry} answered, but its TLS certificate is not signed by a CA this browser trusts (a private CA or a self-signed certificate), or it does not speak TLS at all.`,
        ],
        tips: [
          `Make the browser trust the CA that signed it (see ${TRUST_CA_PAGE}), then push again.`,
          'A registry without TLS must be entered with http://.',
        ],
        link: { href: TRUST_CA_PAGE, text: 'Trusting a private CA in Chromium and Firefox' },
      };
    case 'mixed-content':
      return {
        title: 'The browser will not send to a plain-HTTP registry from this page',
        paragraphs: [`This page was loaded over HTTPS, and ${registry} uses plain HTTP: browsers block that (mixed content).`],
        tips: ['Serve the registry over HTTPS, or open this page over http:// (tug web on this machine).'],
      };
    case 'timeout':
      return {
        title: 'The registry stopped answering',
        paragraphs: [`${registry} took too long to answer, again and again, until the retries ran out.`],
        tips: [
          'Check the network and the registry\'s load; a proxy in front of it may be holding requests.',
          'Push again: the layers the registry already has are skipped.',
        ],
      };
    case 'registry-down':
      return {
        title: `The registry is not working (${status || '5xx'})`,
        paragraphs: [
          `${registry} answered ${status || 'with a server error'}${status === 502 || status === 504 ? ': the proxy in front of the registry could not get an answer from the registry itself' : ': the registry failed to handle the request'}, and kept doing so until the retries ran out.`,
        ],
        tips: [
          'Check that the registry service is running and its storage has room (its own logs say why it failed).',
          'Push again in a moment: the layers the registry already has are skipped.',
        ],
      };
    case 'not-found':
      return {
        title: 'The registry has no such repository',
        paragraphs: [`${registry} does not know ${repository}, or does not allow that name.`],
        tips: [
          'Check the repository name; some registries (Harbor, GitLab, ECR) create repositories only in an existing project, or never on push.',
          'Check the registry URL: a path after the host belongs in the repository, not the URL.',
        ],
      };
    case 'too-large':
      return {
        title: 'The registry refused the size',
        paragraphs: [`${registry} (or a proxy in front of it) refused a request as too large, or the account is over its storage quota.`],
        tips: [
          'A proxy in front of the registry must accept bodies of any size (nginx: client_max_body_size 0, as in docs/nginx-cors.conf); or lower the chunk size under Advanced.',
          'Free space, or raise the quota of the account or project.',
        ],
      };
    case 'registry':
      return {
        title: 'The registry refused the push',
        paragraphs: [`${registry} answered with an error${status ? ` (${status})` : ''}; its code and message are above.`],
        tips: ['The registry\'s message says what it wants; its logs say more.'],
      };
    case 'corrupt':
      return {
        title: 'The file is damaged',
        paragraphs: ['Part of the file does not match the digest its image names for it (above): it was changed or cut short since it was made.'],
        tips: ['Make the archive again (docker save, skopeo copy), or copy it again if it came from elsewhere.'],
      };
    case 'input':
      return {
        title: 'This file cannot be pushed',
        paragraphs: ['The file is not an image archive tug can read, or it is damaged.'],
        tips: [
          'Use a tar written by docker save (docker save -o image.tar IMAGE) or an OCI archive (skopeo copy … oci-archive:image.tar).',
          'A compressed archive (.tar.gz) must be decompressed first (gunzip).',
          'A file that was cut short (an interrupted download or copy) fails this way too.',
        ],
      };
    case 'cancelled':
      return {
        title: 'Push cancelled',
        paragraphs: ['The push was stopped. Blobs that were completely uploaded stay in the registry: Retry skips them.'],
        tips: [],
      };
    default:
      return {
        title: 'The push failed',
        paragraphs: ['Something unexpected went wrong; the message is above.'],
        tips: [],
      };
  }
}
