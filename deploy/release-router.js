// The release router: a CloudFront Function (runtime cloudfront-js-2.0) on the site's default cache
// behaviour, associated with the environment's KeyValueStore (the profile's frontend.key_value_store_arn),
// on viewer request and, for a frontend canary, on viewer response too.
//
// Viewer request: it serves each viewer the release the launch controller made live. The path is rewritten
// to that release's prefix before CloudFront looks in its cache, so each release is cached under its own
// keys, and switching or rolling back is one KeyValueStore write, no invalidation. Without the entry (before
// the first launch with layout = "releases") the bucket's own layout is served.
//
// A frontend canary (entries canary-release and canary-percent) goes to a share of viewers: each viewer has
// a bucket, 0 to 999, kept in a cookie, and those below the share (in tenths of a percent) get the canary.
// A tester opts in before any user does with the header x-release-canary: opt-in.
//
// Viewer response: a viewer without the cookie is given it, with the bucket its request was served by (both
// events see the same request id), so the same viewer stays on the same side as the share grows.
import cf from 'cloudfront';

const store = cf.kvs();
const LIVE_RELEASE = 'live-release';
const CANARY_RELEASE = 'canary-release';
const CANARY_PERCENT = 'canary-percent';
const BUCKET_COOKIE = 'release-bucket';
const TESTER_HEADER = 'x-release-canary';
const BUCKETS = 1000;
// A release's name as the controller accepts a launch's version: nothing that could leave its prefix.
const RELEASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;
const BUCKET = /^[0-9]{1,3}$/;

async function entry(key) {
  try {
    return await store.get(key);
  } catch (err) {
    return null; // no such entry
  }
}

function named(release) {
  return release && RELEASE_NAME.test(release) && release.indexOf('..') === -1 ? release : null;
}

// A hash of the request id (the same in the viewer-request and viewer-response events): the new viewer's bucket.
function bucketOf(event) {
  const cookie = (event.request.cookies || {})[BUCKET_COOKIE];
  if (cookie && BUCKET.test(cookie.value)) {
    return parseInt(cookie.value, 10);
  }
  const id = String(event.context.requestId || '');
  let hash = 0;
  for (let i = 0; i < id.length; i++) {
    hash = (hash * 48271 + id.charCodeAt(i)) % 2147483647; // exact in a double: 48271 * 2^31 < 2^53
  }
  return hash % BUCKETS;
}

async function releaseFor(event) {
  const canary = named(await entry(CANARY_RELEASE));
  if (canary) {
    const tester = event.request.headers[TESTER_HEADER];
    if (tester && tester.value === 'opt-in') {
      return canary;
    }
    const percent = parseFloat((await entry(CANARY_PERCENT)) || '0');
    if (bucketOf(event) < percent * (BUCKETS / 100)) {
      return canary;
    }
  }
  return named(await entry(LIVE_RELEASE));
}

async function handler(event) {
  if (event.context.eventType === 'viewer-response') {
    const response = event.response;
    if (!(event.request.cookies || {})[BUCKET_COOKIE]) {
      response.cookies[BUCKET_COOKIE] = {
        value: String(bucketOf(event)),
        attributes: 'Path=/; Max-Age=2592000; Secure; SameSite=Lax',
      };
    }
    return response;
  }
  const request = event.request;
  const release = await releaseFor(event);
  if (!release) {
    return request; // no live release yet: the bucket's own layout
  }
  let uri = request.uri;
  if (uri.endsWith('/')) {
    uri += 'index.html'; // what the distribution's default root object would have served
  }
  request.uri = '/releases/' + release + uri;
  return request;
}
