import { ApiError, api } from '$lib/api';
import { setSession } from '$lib/session.svelte';
import { error, redirect } from '@sveltejs/kit';
import type { LayoutLoad } from './$types';

// Every staff page needs a session: no session, back to /login (and return here after).
export const load: LayoutLoad = async ({ fetch, url }) => {
  try {
    const s = await api.me(fetch);
    setSession(s);
    return { user: s.user };
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) {
      const next = url.pathname + url.search;
      redirect(307, next === '/' ? '/login' : `/login?next=${encodeURIComponent(next)}`);
    }
    if (err instanceof ApiError)
      error(err.status >= 400 ? err.status : 503, { message: err.message, code: err.code });
    throw err;
  }
};
