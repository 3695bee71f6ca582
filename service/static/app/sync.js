// Offline first: every change is saved here, then sent when the network allows. Each step is
// idempotent on the server (the client chooses visit and attachment ids; an identical sync batch
// is answered from its receipt), so a dropped connection is simply tried again from the top.
import { api, ApiError, Revoked, SignedOut } from './api.js';
import { db, deviceId, filesOf, forgetVisit, getSetting, setSetting } from './store.js';
import { bodyToSend } from './visit.js';

const BACKGROUND_MS = 30000;
const MAX_ROUNDS = 4;
const FIRST_RETRY_MS = 5000;
const MAX_RETRY_MS = 60000;
let retryDelay = FIRST_RETRY_MS;
let retryTimer = null;
const SERVER_ONLY = [
  'id', 'status', 'version', 'worker', 'recorded_at', 'updated_at', 'submitted_at',
  'last_submitted_at', 'amendment_reason', 'delivery', 'review_comment',
];
let running = null;
let timer = null;
const listeners = new Set();
export const status = { state: 'idle', lastSync: null, message: '' };

export function onSyncStatus(listener) {
  listeners.add(listener);
}

function tell(state, message = '') {
  Object.assign(status, { state, message });
  listeners.forEach((listener) => listener(status));
}

/** A visit from the server as a PUT body the tablet can edit and send back. */
export function bodyOf(serverVisit) {
  const body = {};
  Object.entries(serverVisit).forEach(([key, value]) => {
    if (!SERVER_ONLY.includes(key)) body[key] = value;
  });
  body.children = (serverVisit.children || []).map(({ child_name: _name, ...entry }) => entry);
  return body;
}

/** Visits waiting to go to the server (shown in the header). */
export async function pendingCount() {
  return db.visits.filter((visit) => visit.dirty || visit.state === 'queued').count();
}

async function itemFor(visit) {
  const files = await filesOf(visit.id);
  const waiting = files.some((file) => !file.uploaded);
  // A visit is submitted only once the server holds every file it relies on (a drawing may be
  // the only record of a child's views): until then it goes as a draft, then the files follow.
  const submit = visit.state === 'queued' && !waiting;
  return {
    item: {
      ...bodyToSend(visit.body),
      id: visit.id,
      base_version: visit.base_version,
      submit,
      attachment_ids: files.map((file) => file.id),
    },
    submit,
  };
}

async function applyResult(result, sent) {
  // Read and written in one transaction: a save made while this runs (the worker typing as a
  // background sync answers) waits for it and marks the visit dirty again, rather than being
  // marked sent by an answer about the body before it.
  await db.transaction('rw', db.visits, db.files, async () => {
    const visit = await db.visits.get(result.id);
    if (!visit || !sent) return;
    // Changed on the tablet while the batch was on its way: it goes again with the next round.
    const changedSince = visit.updated_at !== sent.updatedAt;
    if (['created', 'updated', 'unchanged'].includes(result.result)) {
      if (sent.submit) {
        await forgetVisit(visit.id); // the server holds the submitted version: drop the draft
        return;
      }
      await db.visits.update(visit.id, {
        base_version: result.version,
        dirty: changedSince || visit.state === 'queued', // a queued visit goes again once its files are up
        errors: null,
      });
    } else if (result.result === 'conflict') {
      await db.visits.update(visit.id, {
        state: 'conflict', server_visit: result.server_visit, dirty: false, submit_wanted: visit.state === 'queued',
      });
    } else if (result.result === 'rejected') {
      const state = visit.state === 'queued' ? 'rejected' : visit.state;
      // The body refused is kept so that a message goes once its answer changes.
      await db.visits.update(visit.id, { state, errors: result.errors, errors_body: sent.body, dirty: changedSince });
    }
  });
}

async function applyChanges(changes) {
  if (!changes) return;
  await db.transaction('rw', db.cases, db.visits, async () => {
    if (changes.cases.length) await db.cases.bulkPut(changes.cases);
    const caseload = new Set(changes.caseload_case_ids);
    await db.cases.filter((entry) => !caseload.has(entry.id)).delete();
    for (const returned of changes.returned_visits) {
      const local = await db.visits.get(returned.id);
      if (local && (local.dirty || local.state === 'queued')) continue; // the worker's edits win here
      await db.visits.put({
        id: returned.id,
        case_id: returned.case_id,
        body: bodyOf(returned),
        base_version: returned.version,
        state: 'returned',
        review_comment: returned.review_comment,
        dirty: false,
        updated_at: returned.updated_at,
      });
    }
  });
}

async function uploadFiles() {
  let uploaded = 0;
  const files = await db.files.filter((file) => !file.uploaded && !file.error).toArray();
  for (const file of files) {
    const visit = await db.visits.get(file.visit_id);
    if (!visit || visit.base_version === null || visit.base_version === undefined) continue;
    const headers = {
      'Content-Type': file.content_type,
      'X-Attachment-Id': file.id,
      'X-Attachment-Kind': file.kind,
      'X-Filename': file.filename,
    };
    if (file.child_id) headers['X-Child-Id'] = file.child_id;
    try {
      await api(`/visits/${visit.id}/attachments`, { method: 'POST', body: file.blob, headers });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status >= 500 || [401, 408, 429].includes(error.status)) throw error;
      // Refused for what it is (its type, its size): keep it out of the way of the rest until
      // the worker removes it; the visit is not submitted while it waits.
      await db.files.update(file.id, { error: error.message });
      continue;
    }
    // The server holds it: keep the note that it exists (the rules count a drawing), not the bytes.
    await db.files.update(file.id, { uploaded: true, blob: null });
    if (visit.state === 'queued') await db.visits.update(visit.id, { dirty: true }); // now it can be submitted
    uploaded += 1;
  }
  return uploaded;
}

async function round() {
  const visits = await db.visits.filter((visit) => visit.dirty && visit.state !== 'conflict').toArray();
  const items = [];
  const sent = {};
  for (const visit of visits) {
    const { item, submit } = await itemFor(visit);
    items.push(item);
    sent[visit.id] = { submit, updatedAt: visit.updated_at, body: visit.body };
  }
  const answer = await api('/sync', {
    method: 'POST',
    json: { device_id: deviceId(), cursor: await getSetting('cursor'), visits: items },
  });
  for (const result of answer.results) await applyResult(result, sent[result.id]);
  await applyChanges(answer.changes);
  await setSetting('cursor', answer.cursor);
  const uploaded = await uploadFiles();
  return uploaded > 0 || (await db.visits.filter((visit) => visit.dirty && visit.state !== 'conflict').count()) > 0;
}

/** The whole caseload afresh from GET /cases (after signing in, and on demand). */
export async function refreshCaseload() {
  const cases = [];
  for (let page = 1; page < 100; page += 1) {
    const batch = await api(`/cases?page=${page}&page_size=100`);
    cases.push(...batch);
    if (batch.length < 100) break;
  }
  await db.transaction('rw', db.cases, async () => {
    await db.cases.clear();
    await db.cases.bulkPut(cases);
  });
}

/** After a dropped connection or a server error, try again soon: 5 s, then 10, 20... up to a minute. */
function retrySoon() {
  clearTimeout(retryTimer);
  retryTimer = setTimeout(() => syncNow(), retryDelay);
  retryDelay = Math.min(retryDelay * 2, MAX_RETRY_MS);
}

/** Sync now: send what waits, upload files, hear what changed. One run at a time. */
export function syncNow({ withCaseload = false } = {}) {
  if (running) return running;
  if (!navigator.onLine) {
    tell('offline', 'Offline: everything is saved on this tablet and will be sent later.');
    return Promise.resolve(false);
  }
  running = (async () => {
    tell('syncing', 'Sending…');
    try {
      if (withCaseload) await refreshCaseload();
      for (let count = 0; count < MAX_ROUNDS; count += 1) {
        if (!(await round())) break;
      }
      retryDelay = FIRST_RETRY_MS;
      status.lastSync = new Date().toISOString();
      await setSetting('last_sync', status.lastSync);
      tell('synced', 'Up to date.');
      return true;
    } catch (error) {
      if (error instanceof Revoked) tell('revoked');
      else if (error instanceof SignedOut) tell('signed-out', error.message);
      else if (error instanceof TypeError) {
        tell('offline', 'The connection dropped; it will be tried again.');
        retrySoon();
      } else {
        tell('error', `Could not sync: ${error.message}`);
        if (!(error instanceof ApiError) || error.status >= 500 || error.status === 429) retrySoon();
      }
      return false;
    } finally {
      running = null;
    }
  })();
  return running;
}

/** Sync in the background: when the network comes back, every 30 s, and when asked. */
export function startBackgroundSync() {
  if (timer) return;
  window.addEventListener('online', () => syncNow());
  window.addEventListener('offline', () => tell('offline', 'Offline: everything is saved on this tablet.'));
  timer = setInterval(() => {
    if (navigator.onLine) syncNow();
  }, BACKGROUND_MS);
}

export function stopBackgroundSync() {
  clearTimeout(retryTimer);
  clearInterval(timer);
  timer = null;
}
