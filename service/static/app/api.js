// The API client: the access token in memory only, the refresh token in IndexedDB, and the
// revoked-device answer turned into a wipe of everything the tablet holds.
import { db, deviceId, getSetting, reopen, setSetting, wipeEverything } from './store.js';

const BASE = '/api/v1';
let access = null; // { token, expiresAt }
let refreshing = null;
const listeners = new Set();

/** Hear about sign-in state changes: 'signed-in', 'signed-out', 'revoked', 'expired'. */
export function onAuthChange(listener) {
  listeners.add(listener);
}

function announce(state) {
  listeners.forEach((listener) => listener(state));
}

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code;
  }
}

export class Revoked extends Error {}
/** A sign-in by someone the tablet app is not for (a supervisor, manager or admin). */
export class NotForRole extends Error {}
export class SignedOut extends Error {}

async function readProblem(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

function keepAccess(tokens) {
  access = { token: tokens.access_token, expiresAt: Date.now() + (tokens.expires_in - 30) * 1000 };
}

/** Remove everything because the server says this tablet was revoked. */
export async function revoked() {
  access = null;
  await wipeEverything();
  announce('revoked');
  throw new Revoked('This tablet has been revoked.');
}

export async function signIn(username, password) {
  const response = await fetch(`${BASE}/auth/token`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ username, password, device_id: deviceId(), device_name: 'Tablet app' }),
  });
  const body = await readProblem(response);
  if (!response.ok) {
    if (body && body.code === 'auth.device_revoked') {
      // Wipe as for any revoked tablet, then give the service's own words to the sign-in form.
      await revoked().catch(() => {});
    }
    throw new ApiError(response.status, body);
  }
  keepAccess(body);
  const me = await fetch(`${BASE}/me`, { headers: { Authorization: `Bearer ${access.token}` } });
  const user = await me.json();
  if (user.role !== 'social_worker') {
    // The app is for social workers only: nothing of anyone else's may stay on the tablet, and
    // their session ends at once (the caseload is never fetched).
    await fetch(`${BASE}/auth/logout`, { method: 'POST', headers: { Authorization: `Bearer ${access.token}` } })
      .catch(() => {});
    access = null;
    await wipeEverything();
    throw new NotForRole('The tablet app is for social workers.');
  }
  const previous = await getSetting('user');
  if (previous && previous.id !== user.id) await wipeEverything(); // another worker's records
  reopen();
  await setSetting('refresh_token', body.refresh_token);
  await setSetting('user', { id: user.id, display_name: user.display_name, role: user.role });
  announce('signed-in');
  return user;
}

async function refresh() {
  const token = await getSetting('refresh_token');
  if (!token) throw new SignedOut('Sign in to continue.');
  const response = await fetch(`${BASE}/auth/refresh`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ refresh_token: token }),
  });
  const body = await readProblem(response);
  if (response.status === 401) {
    if (body && body.code === 'auth.device_revoked') await revoked();
    access = null;
    await db.settings.delete('refresh_token'); // records stay until a worker signs in again
    announce('expired');
    throw new SignedOut('Your sign-in has ended; sign in again.');
  }
  if (!response.ok) throw new ApiError(response.status, body);
  keepAccess(body);
  await setSetting('refresh_token', body.refresh_token);
  return access.token;
}

async function accessToken() {
  if (access && access.expiresAt > Date.now()) return access.token;
  if (!refreshing) refreshing = refresh().finally(() => { refreshing = null; });
  return refreshing;
}

/** Whether a worker is signed in on this tablet (a refresh token is held). */
export async function hasSession() {
  return Boolean(access) || Boolean(await getSetting('refresh_token'));
}

/** Call the API; JSON in and out unless ``body`` is given. Network failures throw TypeError. */
export async function api(path, { method = 'GET', json, body, headers = {}, raw = false } = {}) {
  for (let attempt = 0; attempt < 2; attempt += 1) {
    const token = await accessToken();
    const sent = { Authorization: `Bearer ${token}`, ...headers };
    if (json !== undefined) sent['Content-Type'] = 'application/json';
    const response = await fetch(`${BASE}${path}`, {
      method,
      headers: sent,
      body: json !== undefined ? JSON.stringify(json) : body,
    });
    if (response.status === 401) {
      const problem = await readProblem(response);
      if (problem && problem.code === 'auth.device_revoked') await revoked();
      access = null; // expired or refused: refresh once and try again
      if (attempt === 0) continue;
      throw new ApiError(401, problem);
    }
    if (raw) return response;
    if (!response.ok) throw new ApiError(response.status, await readProblem(response));
    return response.status === 204 ? null : response.json();
  }
  throw new SignedOut('Sign in to continue.');
}

/** Sign out: end this device's sessions on the server (when reachable) and wipe the tablet. */
export async function signOut() {
  try {
    if (navigator.onLine) await api('/auth/logout', { method: 'POST' });
  } catch {
    // Offline or already ended: the wipe below is what matters on the tablet.
  }
  access = null;
  await wipeEverything();
  announce('signed-out');
}
