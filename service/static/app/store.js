// What the tablet keeps: IndexedDB through Dexie. Child data lives here and nowhere else on the
// tablet (the service worker caches only the app's own files), so wiping it is one call.
/* global Dexie */

export const DB_NAME = 'seen-and-heard';
const DEVICE_KEY = 'seen-and-heard.device-id';

function open() {
  const store = new Dexie(DB_NAME);
  store.version(1).stores({
    settings: 'key', // refresh token, signed-in user, sync cursor, last sync
    cases: 'id', // the caseload as last synced
    visits: 'id, case_id, state', // visits recorded here and not yet held by the server
    files: 'id, visit_id', // drawings, photos and recordings waiting to be uploaded
  });
  return store;
}

export let db = open();
let wiped = false; // after a wipe nothing may recreate the database until someone signs in

/** Open the database again for a worker signing in after a wipe. */
export function reopen() {
  if (wiped) {
    wiped = false;
    db = open();
  }
}

/** Whether the tablet has been wiped since the app started (and nobody signed in since). */
export function isWiped() {
  return wiped;
}

export async function getSetting(key, fallback = null) {
  if (wiped) return fallback;
  const row = await db.settings.get(key);
  return row ? row.value : fallback;
}

export function setSetting(key, value) {
  return db.settings.put({ key, value });
}

/** The tablet's device id: made once, and kept across sign-outs (a revoked id stays revoked). */
export function deviceId() {
  let id = localStorage.getItem(DEVICE_KEY);
  if (!id) {
    id = `tablet-${crypto.randomUUID()}`;
    localStorage.setItem(DEVICE_KEY, id);
  }
  return id;
}

/** Remove every record, file and cache the app holds, at once (sign-out, revoked device). */
export async function wipeEverything() {
  db.close();
  await Dexie.delete(DB_NAME);
  if ('caches' in self) {
    const names = await caches.keys();
    await Promise.all(names.map((name) => caches.delete(name)));
  }
  sessionStorage.clear();
  wiped = true;
}

/** A visit's local files. */
export function filesOf(visitId) {
  return db.files.where('visit_id').equals(visitId).toArray();
}

/** Forget a visit and its files here (the server holds it now, or the worker discarded it). */
export async function forgetVisit(visitId) {
  await db.transaction('rw', db.visits, db.files, async () => {
    await db.files.where('visit_id').equals(visitId).delete();
    await db.visits.delete(visitId);
  });
}
