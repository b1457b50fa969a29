// What went wrong, in words people can act on: one explanation per error code of the push
// API (`input`, `auth`, `not_found`, `registry`, `network`, `cors`, `cancelled`). Plain text only; the
// page renders it with textContent.

/**
 * @param {string} code  the error's `.code`
 * @param {object} ctx   `{ registry, pageOrigin, repository, plainHttp }`: the registry's origin
 *                       (e.g. `https://registry.example.com`), this page's origin, the repository
 * @returns {{ title: string, paragraphs: string[], tips: string[], snippet?: string }}
 */
export function explain(code, ctx = {}) {
  const registry = ctx.registry || 'the registry';
  const page = ctx.pageOrigin || 'this page';
  const repository = ctx.repository || 'the repository';
  switch (code) {
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
          `${registry} did not accept the user name and password, or this account may not push to ${repository}.`,
        ],
        tips: [
          'Check the user name and the password or access token (some registries, Docker Hub among them, want an access token instead of the password).',
          `The account needs push permission on ${repository}; on registries with projects or namespaces the project must exist.`,
          'A registry that allows anonymous pulls still needs credentials to push.',
        ],
      };
    case 'network':
      return {
        title: 'Could not reach the registry',
        paragraphs: [
          `The browser could not talk to ${registry}, or the connection kept failing until the retries ran out.`,
        ],
        tips: [
          'Check the URL and that the registry is running and reachable from this computer.',
          ctx.plainHttp
            ? 'You asked for plain HTTP (http://): if the registry uses TLS, use https:// instead.'
            : 'A registry without TLS must be entered with http://, one with TLS with https://.',
          `If the registry's certificate comes from a private CA, this browser must trust that CA: open ${registry}/v2/ in a new tab to see what the browser says about it.`,
          'A page served over https:// cannot use a registry on http:// (mixed content).',
        ],
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
    case 'not_found':
      return {
        title: 'The registry does not know this repository',
        paragraphs: [`${registry} answered that ${repository} does not exist (NAME_UNKNOWN or MANIFEST_UNKNOWN).`],
        tips: [
          'Some registries create repositories only on their own page or API (a project or namespace must exist first).',
          'Check the repository name for typos: it is part of the target, after the registry.',
        ],
      };
    case 'registry':
      return {
        title: 'The registry refused the push',
        paragraphs: [`${registry} answered with an error; its code and message are above.`],
        tips: [
          'NAME_INVALID or NAME_UNKNOWN: the repository name is not allowed here, or does not exist and the registry does not create repositories on push.',
          'DENIED: the account may not push to this repository, or the tag is immutable.',
          'A 5xx error: the registry itself has a problem (storage full, a proxy in front of it timed out).',
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
