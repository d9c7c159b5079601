// A client-only SPA: the cloud serves the static build and the fallback index.html.
export const ssr = false;
export const prerender = false;
export const trailingSlash = 'never';
