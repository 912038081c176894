// The release router: a CloudFront Function (runtime cloudfront-js-2.0) on the site's default cache
// behaviour, viewer request, associated with the environment's KeyValueStore (the profile's
// frontend.key_value_store_arn). It serves each viewer the release the launch controller made live: the
// path is rewritten to that release's prefix before CloudFront looks in its cache, so each release is
// cached under its own keys, and switching or rolling back is one KeyValueStore write, no invalidation.
// Without the entry (before the first launch with layout = "releases") the bucket's own layout is served.
import cf from 'cloudfront';

const store = cf.kvs();
const LIVE_RELEASE = 'live-release';
// A release's name as the controller accepts a launch's version: nothing that could leave its prefix.
const RELEASE_NAME = /^[A-Za-z0-9][A-Za-z0-9._+-]{0,63}$/;

async function handler(event) {
  const request = event.request;
  let release;
  try {
    release = await store.get(LIVE_RELEASE);
  } catch (err) {
    return request; // no live release yet: the bucket's own layout
  }
  if (!RELEASE_NAME.test(release) || release.indexOf('..') !== -1) {
    return request;
  }
  let uri = request.uri;
  if (uri.endsWith('/')) {
    uri += 'index.html'; // what the distribution's default root object would have served
  }
  request.uri = '/releases/' + release + uri;
  return request;
}
