// The tablet app: sign-in, the router between screens, the sync status, and the service worker
// (with the notice that a new version of the app is ready).
/* global workbox */
import { ApiError, NotForRole, hasSession, onAuthChange, signIn, signOut } from './api.js';
import { renderCaseload } from './caseload.js';
import { renderChild } from './child.js';
import { renderConflict } from './conflict.js';
import { renderFinish } from './finish.js';
import { errorSummary, esc, fieldId, textInput } from './html.js';
import { db } from './store.js';
import { onSyncStatus, pendingCount, startBackgroundSync, status, stopBackgroundSync, syncNow } from './sync.js';
import { leaveScreen, newVisit, renderStart } from './visit.js';

const main = document.getElementById('main-content');
const bar = document.getElementById('app-status');
let notice = '';
let ended = '';
let refusal = null; // the service's answer to a sign-in it refused for this tablet, and who asked
let notForRole = false; // someone other than a social worker tried to sign in

function go(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

function flash(message) {
  notice = message;
}

function flashBanner() {
  if (!notice) return '';
  const shown = notice;
  notice = '';
  return `<div class="govuk-notification-banner govuk-notification-banner--success" role="alert" aria-labelledby="flash-title">
    <div class="govuk-notification-banner__header"><h2 class="govuk-notification-banner__title" id="flash-title">Done</h2></div>
    <div class="govuk-notification-banner__content"><p class="govuk-notification-banner__heading">${esc(shown)}</p></div></div>`;
}

async function renderStatus() {
  if (!active) return;
  const signedIn = await hasSession();
  if (!signedIn) {
    bar.innerHTML = '';
    return;
  }
  const waiting = await pendingCount();
  // Visits the service refused, that changed elsewhere, or that a supervisor returned wait for
  // the worker, not for a sync: while one is here nothing says there is nothing to send.
  const attention = await db.visits.filter((visit) => ['rejected', 'conflict', 'returned'].includes(visit.state)
    || Boolean(visit.errors) || Boolean(visit.review_comment)).count();
  const online = navigator.onLine;
  bar.innerHTML = `
    <p class="govuk-body-s app-status__text" id="sync-status">
      ${online ? tagOf('Online', 'green') : tagOf('Offline', 'grey')}
      <span data-waiting="${waiting}">${waiting ? `${waiting} visit${waiting === 1 ? '' : 's'} waiting to send.` : (attention ? '' : 'Nothing waiting to send.')}</span>
      ${attention ? `<span data-attention="${attention}">${tagOf('Needs attention', 'red')} ${attention} visit${attention === 1 ? ' needs' : 's need'} you to check ${attention === 1 ? 'it' : 'them'}: see your caseload.</span>` : ''}
      ${attention && status.state === 'synced' ? '' : esc(statusNote())}
    </p>
    <div class="app-status__actions">
      <button type="button" class="govuk-button govuk-button--secondary app-small-button" id="sync-now">Sync now</button>
      <a class="govuk-link app-status__link" href="#/sign-out">Sign out</a>
    </div>`;
  bar.querySelector('#sync-now').addEventListener('click', async () => {
    await syncNow({ withCaseload: true });
    // The screen is drawn again with what the sync brought, unless the worker has gone on
    // working in it meanwhile: redrawn under their fingers, what they type would be lost.
    if (workingOnScreen()) await renderStatus();
    else route();
  });
}

/** Whether the worker is in a field or on a button of the screen (not of the status bar). */
function workingOnScreen() {
  return main.contains(document.activeElement) && document.activeElement.matches('input, textarea, button');
}

function statusNote() {
  if (status.state === 'syncing') return 'Sending…';
  if (status.state === 'error' || status.state === 'offline') return status.message;
  if (status.state === 'synced' && status.lastSync) {
    return `Up to date at ${new Date(status.lastSync).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit' })}.`;
  }
  return '';
}

function tagOf(text, colour) {
  return `<strong class="govuk-tag govuk-tag--${colour}">${esc(text)}</strong>`;
}

function renderSignIn(given = {}, values = {}) {
  const errors = !Object.keys(given).length && refusal ? { username: [refusal.message] } : given;
  if (!Object.keys(given).length && refusal) values = { username: refusal.username };
  document.title = `${Object.keys(errors).length ? 'Error: ' : ''}Sign in – Seen and Heard`;
  // The service's refusal of a revoked tablet is about the tablet, not the username: summary only.
  const onFields = refusal && (errors.username || [])[0] === refusal.message ? {} : errors;
  const why = {
    revoked: 'This tablet has been revoked by an administrator. Everything it held has been removed from it.',
    'signed-out': 'You have signed out. Everything this tablet held has been removed from it.',
    expired: 'Your sign-in has ended. Sign in again: visits on this tablet are kept.',
  }[ended];
  main.innerHTML = `
    ${errorSummary(errors)}
    ${why ? `<div class="govuk-inset-text" id="ended-notice">${esc(why)}</div>` : ''}
    ${notForRole ? `<div class="govuk-inset-text" id="role-notice">The tablet app is for social workers. Supervisors, managers and admins use the desk pages at <a class="govuk-link" href="/desk/">/desk/</a>.</div>` : ''}
    <h1 class="govuk-heading-l" tabindex="-1">Sign in</h1>
    <p class="govuk-body">Sign in once while online. After that you can record visits without a connection.</p>
    <form id="sign-in-form" novalidate>
      ${textInput({ path: 'username', label: 'Username', value: values.username, errors: onFields, cls: 'govuk-input--width-20' })}
      ${textInput({ path: 'password', label: 'Password', value: '', type: 'password', errors: onFields, cls: 'govuk-input--width-20' })}
      <button type="submit" class="govuk-button">Sign in</button>
    </form>`;
  const form = main.querySelector('#sign-in-form');
  form.querySelector(`#${fieldId('username')}`).setAttribute('autocomplete', 'username');
  form.querySelector(`#${fieldId('password')}`).setAttribute('autocomplete', 'current-password');
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const username = form.username.value.trim();
    const password = form.password.value;
    const missing = {};
    if (!username) missing.username = ['Enter your username'];
    if (!password) missing.password = ['Enter your password'];
    if (Object.keys(missing).length) return renderSignIn(missing, { username });
    try {
      await signIn(username, password);
      ended = '';
      notForRole = false;
      keepShell();
      refusal = null;
      const bringing = document.createElement('p');
      bringing.className = 'govuk-body';
      bringing.setAttribute('role', 'status');
      bringing.textContent = 'Signed in. Bringing your caseload onto this tablet…';
      form.after(bringing);
      await syncNow({ withCaseload: true });
      // Said once the caseload is here (or could not come), not while it is on its way.
      flash(status.state === 'synced'
        ? 'Signed in. Your caseload is on this tablet.'
        : 'Signed in. Your caseload could not be brought onto this tablet yet; it comes with the next sync.');
      startBackgroundSync();
      go('#/');
    } catch (error) {
      if (error instanceof NotForRole) {
        notForRole = true;
        keepShell();
        renderSignIn();
        return undefined;
      }
      notForRole = false;
      let message = 'The service cannot be reached. Check the connection and try again.';
      if (error instanceof ApiError) {
        const badPassword = error.status === 401 && error.code !== 'auth.device_revoked';
        message = badPassword ? 'The username or password is not right.' : error.message;
      }
      // The service's refusal stays on the form: a revoked tablet redraws it as it wipes itself.
      if (error instanceof ApiError && error.code === 'auth.device_revoked') refusal = { message, username };
      renderSignIn({ username: [message] }, { username });
    }
    return undefined;
  });
  const summary = main.querySelector('.govuk-error-summary');
  if (summary) summary.focus();
}

async function renderSignOut() {
  const waiting = await pendingCount();
  main.innerHTML = `
    <h1 class="govuk-heading-l" tabindex="-1">Sign out</h1>
    ${waiting ? `<div class="govuk-warning-text"><span class="govuk-warning-text__icon" aria-hidden="true">!</span><strong class="govuk-warning-text__text"><span class="govuk-visually-hidden">Warning</span>${waiting} visit${waiting === 1 ? ' has' : 's have'} not reached the service yet. Signing out removes ${waiting === 1 ? 'it' : 'them'} from this tablet. Sync first if you can.</strong></div>` : ''}
    <p class="govuk-body">Signing out removes every record, drawing, photo and recording from this tablet.</p>
    <div class="govuk-button-group">
      <button type="button" class="govuk-button govuk-button--warning" id="confirm-sign-out">Sign out and remove everything</button>
      <a class="govuk-link" href="#/">Cancel</a>
    </div>`;
  main.querySelector('#confirm-sign-out').addEventListener('click', async () => {
    stopBackgroundSync();
    await signOut();
  });
}

async function route(options = {}) {
  if (!active) return undefined; // another tab has the app
  await leaveScreen(); // the last screen's waiting save first; it saves nothing after
  const moveFocus = options.focus !== false; // not when a background sync redraws the caseload
  const [path, query] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean);
  await renderStatus();
  if (!(await hasSession())) {
    renderSignIn();
    return;
  }
  startBackgroundSync();
  const banner = flashBanner();
  const titles = { '': 'Your caseload', 'sign-out': 'Sign out' };
  document.title = `${titles[parts[0] || ''] || 'Record a visit'} – Seen and Heard`;
  if (parts[0] === 'sign-out') {
    await renderSignOut();
  } else if (parts[0] === 'visit' && parts[1] === 'new') {
    const caseRecord = await db.cases.get(parts[2]);
    if (!caseRecord) return go('#/');
    return go(`#/visit/${await newVisit(caseRecord)}`);
  } else if (parts[0] === 'visit') {
    const visit = await db.visits.get(parts[1]);
    if (!visit) {
      flash('That visit is no longer on this tablet: the service holds it.');
      return go('#/');
    }
    if (visit.state === 'conflict' && parts[2] !== 'conflict') return go(`#/visit/${visit.id}/conflict`);
    if (parts[2] === 'child') await renderChild(main, visit, Number(parts[3]), go);
    else if (parts[2] === 'finish') await renderFinish(main, visit, go, flash);
    else if (parts[2] === 'conflict') await renderConflict(main, visit, go, flash);
    else await renderStart(main, visit, go);
  } else {
    await renderCaseload(main);
  }
  // The banner's h2 follows the page's h1 (heading order).
  const heading = main.querySelector('h1');
  if (banner && heading) heading.insertAdjacentHTML('afterend', banner);
  else if (banner) main.insertAdjacentHTML('afterbegin', banner);
  const field = query && new URLSearchParams(query).get('field');
  const target = (field && document.getElementById(field)) || main.querySelector('h1');
  if (target && moveFocus) target.focus();
  return undefined;
}

onAuthChange(async (state) => {
  if (state === 'revoked' || state === 'signed-out' || state === 'expired') {
    ended = state;
    stopBackgroundSync();
    location.hash = '#/';
    route();
  }
});
onSyncStatus(() => {
  renderStatus();
  const onCaseload = !location.hash || location.hash === '#/';
  if (status.state === 'synced' && onCaseload && !workingOnScreen()) route({ focus: false });
});
window.addEventListener('hashchange', route);
// Links to a field on the same screen (error summaries, the rules): the router owns the hash,
// so move the focus to the field instead of following them.
document.addEventListener('click', (event) => {
  const link = event.target.closest('a[href^="#f-"]');
  if (!link) return;
  event.preventDefault();
  const field = document.getElementById(link.getAttribute('href').slice(1));
  if (field) {
    field.scrollIntoView({ block: 'center' });
    field.focus();
  }
});
window.addEventListener('online', renderStatus);
window.addEventListener('offline', renderStatus);

/** Ask the service worker to cache the shell again if a wipe removed it (harmless otherwise). */
function keepShell() {
  if (!('serviceWorker' in navigator)) return;
  navigator.serviceWorker.ready.then((registration) => {
    if (registration.active) registration.active.postMessage({ type: 'RECACHE' });
  });
}

/** The service worker keeps the app for offline use; a new version waits until the worker says. */
function registerServiceWorker() {
  if (!('serviceWorker' in navigator) || !window.workbox) return;
  const wb = new workbox.Workbox('/app/sw.js', { scope: '/app/' });
  const ready = document.getElementById('app-update');
  wb.addEventListener('waiting', () => {
    ready.hidden = false;
    ready.querySelector('button').addEventListener('click', () => {
      wb.addEventListener('controlling', () => window.location.reload());
      wb.messageSkipWaiting();
    }, { once: true });
  });
  wb.register().then(() => {
    document.documentElement.dataset.serviceWorker = 'registered';
  });
  // Look for a new version when the tablet comes back online, and every ten minutes.
  window.addEventListener('online', () => wb.update());
  setInterval(() => wb.update(), 600000);
}

// One tab at a time: two copies of the app would overwrite each other's answers in IndexedDB.
// The tab holding the lock runs the app; another says so, and can take the app over.
const LOCK = 'seen-and-heard-app';
let active = false;

function holdTheApp(options) {
  return new Promise((resolve) => {
    navigator.locks.request(LOCK, options, async (lock) => {
      resolve(Boolean(lock));
      if (lock) await new Promise(() => {}); // held for as long as this tab is open
    }).catch(() => elsewhere()); // another tab took the app over
  });
}

function elsewhere() {
  active = false;
  stopBackgroundSync();
  bar.innerHTML = '';
  document.title = 'Open in another tab – Seen and Heard';
  main.innerHTML = `
    <h1 class="govuk-heading-l" tabindex="-1">Seen and Heard is open in another tab</h1>
    <p class="govuk-body" id="other-tab">Seen and Heard is open in another tab or window; close this one.</p>
    <p class="govuk-body">Two copies at once would overwrite each other's answers. If the other tab cannot be found, use the app here: the other copy stops.</p>
    <button type="button" class="govuk-button govuk-button--secondary" id="use-here">Use it here instead</button>`;
  main.querySelector('#use-here').addEventListener('click', async () => {
    await holdTheApp({ steal: true });
    start();
  });
  main.querySelector('h1').focus();
}

function start() {
  active = true;
  route();
}

registerServiceWorker();
if (navigator.locks) {
  holdTheApp({ ifAvailable: true }).then((held) => (held ? start() : elsewhere()));
} else {
  start();
}
