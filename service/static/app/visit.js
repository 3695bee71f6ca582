// A visit on the tablet: created here, edited screen by screen, autosaved to IndexedDB.
import { db, filesOf } from './store.js';
import { LABELS, MAX_LENGTH, YES_NO, errorSummary, esc, fieldId, localInput, fromLocalInput, radios, textInput, textarea } from './html.js';

const BOOLEANS = ['seen', 'seen_alone', 'bedroom_seen', 'announced', 'consent_to_share'];
const SAVE_DELAY_MS = 250;

export function blankChild(childId) {
  return {
    child_id: childId, seen: null, seen_alone: null, not_seen_reason: null, not_seen_detail: null,
    not_seen_alone_reason: null, not_seen_alone_detail: null, bedroom_seen: null,
    voice: {
      own_words: null, wishes_and_feelings: null, good_things: null, worries: null, dreams: null,
      scale: null, method: null, consent_to_share: null, not_gathered_reason: null,
    },
  };
}

/** Start a visit to a case: every child on it, starting now. */
export async function newVisit(caseRecord) {
  const id = crypto.randomUUID();
  await db.visits.put({
    id,
    case_id: caseRecord.id,
    body: {
      case_id: caseRecord.id, visit_type: 'statutory', announced: null,
      started_at: new Date().toISOString(), ended_at: null, location: null, people_present: [],
      children: caseRecord.children.map((child) => blankChild(child.id)),
      observations: null, analysis: null, next_actions: null,
    },
    base_version: null,
    state: 'draft',
    dirty: true,
    updated_at: new Date().toISOString(),
  });
  return id;
}

/** A visit body as the API takes it: a scale goes only when it is whole (its schema needs all three). */
export function bodyToSend(body) {
  const copy = structuredClone(body);
  copy.children.forEach((entry) => {
    const scale = entry.voice && entry.voice.scale;
    if (scale && (scale.score === null || !scale.question || !scale.scored_by)) {
      entry.voice.scale = null;
    }
  });
  return copy;
}

/** A scale begun but not finished, for each child: the app asks for the rest. */
export function partialScales(body) {
  const errors = {};
  body.children.forEach((entry, index) => {
    const scale = entry.voice && entry.voice.scale;
    if (!scale) return;
    const given = [scale.score !== null && scale.score !== undefined, Boolean(scale.question), Boolean(scale.scored_by)];
    if (given.some(Boolean) && !given.every(Boolean)) {
      errors[`children.${index}.voice.scale`] = ['Give the score, the question asked and who gave the score.'];
    }
  });
  return errors;
}

const NAMES = {
  location: 'Where',
  people_present: 'Each person in “Who was there”',
  question: 'The question asked',
  not_seen_detail: 'More detail',
  not_seen_alone_detail: 'More detail',
};

/** The service's refusal in the app's words: "Longer than maximum length 100." names its field. */
function inWords(path, message) {
  const longer = /^Longer than maximum length (\d+)\.?$/.exec(message);
  if (!longer) return message;
  const name = NAMES[path.split('.').pop()] || 'This answer';
  return `${name} must be ${longer[1]} characters or fewer.`;
}

/** What the service refused in this visit, by the path of the field it is about (a person in
 * people_present is the field). A message goes once its answer has changed since the refusal. */
export function serviceErrors(visit) {
  if (!visit.errors) return {};
  const errors = {};
  Object.entries(visit.errors).forEach(([raw, messages]) => {
    const path = raw.replace(/^people_present\.\d+$/, 'people_present');
    const refused = visit.errors_body;
    if (refused && !path.startsWith('_') && path !== 'id'
        && JSON.stringify(getPath(refused, path) ?? null) !== JSON.stringify(getPath(visit.body, path) ?? null)) return;
    const words = messages.map((message) => inWords(path, message));
    errors[path] = [...new Set([...(errors[path] || []), ...words])];
  });
  return errors;
}

/** Two sets of messages by path as one, each message once. */
export function mergeErrors(...sets) {
  const merged = {};
  sets.forEach((set) => Object.entries(set).forEach(([path, messages]) => {
    merged[path] = [...new Set([...(merged[path] || []), ...messages])];
  }));
  return merged;
}

function convert(name, raw) {
  if (raw === '') return null;
  if (BOOLEANS.includes(name)) return raw === 'true';
  if (name === 'score') return Number.parseInt(raw, 10);
  if (name === 'started_at' || name === 'ended_at') return fromLocalInput(raw);
  return raw;
}

function setPath(target, path, value) {
  const parts = path.split('.');
  let node = target;
  parts.slice(0, -1).forEach((part, index) => {
    const key = /^\d+$/.test(part) ? Number(part) : part;
    if (node[key] === null || node[key] === undefined) node[key] = /^\d+$/.test(parts[index + 1]) ? [] : {};
    node = node[key];
  });
  node[parts[parts.length - 1]] = value;
}

export function getPath(source, path) {
  return path.split('.').reduce((node, part) => (node === null || node === undefined ? undefined : node[part]), source);
}

/** Read a screen's fields into the body: each field's name is its path in the body. */
export function readForm(form, body) {
  for (const element of form.elements) {
    const path = element.name;
    if (!path || element.type === 'file' || element.dataset.skip !== undefined) continue;
    if (element.type === 'radio' && !element.checked) continue;
    // The service refuses NUL characters (a paste from some apps carries them): drop them here.
    if (element.value.includes('\u0000')) element.value = element.value.replace(/\u0000/g, '');
    if (path === 'people_present') {
      body.people_present = element.value.split('\n').map((line) => line.trim()).filter(Boolean);
    } else if (element.type === 'datetime-local' && localInput(getPath(body, path)) === element.value) {
      // Unchanged to the minute the field shows: keep the seconds it was recorded with.
    } else {
      setPath(body, path, convert(path.split('.').pop(), element.value));
    }
  }
  clearUnmet(form, body);
}

/** Whether a conditional part's answer (data-when="path=value") is the one it depends on. */
function conditionMet(form, part) {
  const [path, wanted] = part.dataset.when.split('=');
  const chosen = form.querySelector(`[name="${path}"]:checked`);
  return Boolean(chosen) && chosen.value === wanted;
}

/** Answers that only stand with another answer (data-clear-unless): when that answer changes
 * they are cleared from the body and the screen, not merely hidden. */
function clearUnmet(form, body) {
  form.querySelectorAll('[data-when][data-clear-unless]').forEach((part) => {
    if (conditionMet(form, part)) return;
    part.querySelectorAll('[name]').forEach((element) => {
      if (element.type === 'radio' || element.type === 'checkbox') element.checked = false;
      else element.value = '';
      setPath(body, element.name, null);
    });
  });
}

/** Show or hide the parts of a screen that depend on an answer (data-when="path=value"). */
export function applyConditions(form) {
  form.querySelectorAll('[data-when]').forEach((part) => {
    part.hidden = !conditionMet(form, part);
  });
}

/** Save a changed visit here; it goes to the server with the next sync. */
export async function saveVisit(visit, state = 'draft') {
  // Only what the worker changed: a sync may have moved base_version on meanwhile. Read and
  // written in one transaction, so a sync's answer cannot land between the two (a conflict it
  // found would be overwritten as a draft).
  await db.transaction('rw', db.visits, async () => {
    const stored = await db.visits.get(visit.id);
    if (!stored) return;
    visit.state = stored.state === 'conflict' ? 'conflict' : state;
    visit.base_version = stored.base_version;
    await db.visits.update(visit.id, {
      body: visit.body, state: visit.state, dirty: true, updated_at: new Date().toISOString(),
    });
  });
}

// The screen whose form autosaves: one at a time. Each screen holds its own copy of the visit
// and saves it whole, so a screen left behind must not save again: a save it still had waiting
// (the last keystrokes, or the change event a field fires as it is taken off the page) would
// write its old copy over what the next screen saved.
let onScreen = null;

/** Leaving the screen (route() calls this before drawing the next): its waiting save is made
 * now, and it saves nothing after. */
export async function leaveScreen() {
  const leaving = onScreen;
  onScreen = null;
  if (leaving) await leaving();
}

/** Autosave a screen's form as the worker types; returns flush() for leaving the screen. */
export function autosave(form, visit, afterSave = () => {}) {
  let pending = null;
  let left = false;
  const save = async () => {
    clearTimeout(pending);
    pending = null;
    if (left) return;
    readForm(form, visit.body);
    await saveVisit(visit);
    const note = document.getElementById('autosave-note');
    if (note) note.textContent = `Saved on this tablet at ${new Date().toLocaleTimeString('en-GB')}`;
    afterSave();
  };
  const later = () => {
    if (left) return;
    applyConditions(form);
    clearTimeout(pending);
    pending = setTimeout(save, SAVE_DELAY_MS);
  };
  form.addEventListener('input', later);
  form.addEventListener('change', later);
  applyConditions(form);
  onScreen = async () => {
    if (pending !== null) await save();
    left = true;
  };
  return save;
}

export function caseOf(visit) {
  return db.cases.get(visit.case_id);
}

export function childName(caseRecord, childId) {
  const child = caseRecord && caseRecord.children.find((entry) => entry.id === childId);
  return child ? child.name : 'A child';
}

/** The steps of a visit, in the order it happens: start, each child, finish. */
export function steps(visit) {
  return [
    `#/visit/${visit.id}`,
    ...visit.body.children.map((_, index) => `#/visit/${visit.id}/child/${index}`),
    `#/visit/${visit.id}/finish`,
  ];
}

export function returnedNotice(visit) {
  if (!visit.review_comment) return '';
  return `<div class="govuk-notification-banner" role="region" aria-labelledby="returned-title">
    <div class="govuk-notification-banner__header"><h2 class="govuk-notification-banner__title" id="returned-title">Returned by your supervisor</h2></div>
    <div class="govuk-notification-banner__content"><p class="govuk-body">${esc(visit.review_comment)}</p></div>
  </div>`;
}

/** The first screen: the visit itself and who was there. */
export async function renderStart(main, visit, go) {
  const caseRecord = await caseOf(visit);
  const body = visit.body;
  const refused = Object.fromEntries(Object.entries(serviceErrors(visit)).filter(([path]) => !path.startsWith('children.')));
  const onVisit = new Set(body.children.map((entry) => entry.child_id));
  const children = (caseRecord ? caseRecord.children : []).map((child) => `
    <div class="govuk-checkboxes__item">
      <input class="govuk-checkboxes__input" id="visit-child-${esc(child.id)}" name="visit-child" data-skip type="checkbox" value="${esc(child.id)}"${onVisit.has(child.id) ? ' checked' : ''}>
      <label class="govuk-label govuk-checkboxes__label" for="visit-child-${esc(child.id)}">${esc(child.name)}</label>
    </div>`).join('');
  main.innerHTML = `
    <span class="govuk-caption-l">Case ${esc(caseRecord ? caseRecord.core_ref : '')}</span>
    <h1 class="govuk-heading-l" tabindex="-1">The visit</h1>
    ${returnedNotice(visit)}
    ${errorSummary(refused, (path) => `#${fieldId(path)}`, 'The service did not accept this visit')}
    <form id="visit-form" novalidate>
      ${radios({ path: 'visit_type', errors: refused, legend: 'Type of visit', value: body.visit_type, options: Object.entries(LABELS.visit_type) })}
      ${radios({ path: 'announced', errors: refused, legend: 'Was the visit announced?', value: body.announced, options: YES_NO, inline: true })}
      ${textInput({ path: 'started_at', errors: refused, label: 'Started at', value: localInput(body.started_at), type: 'datetime-local', cls: 'govuk-input--width-20' })}
      ${textInput({ path: 'location', errors: refused, label: 'Where', hint: 'For example, the family home', value: body.location, cls: 'govuk-input--width-20', max: MAX_LENGTH.location })}
      ${textarea({ path: 'people_present', errors: refused, label: 'Who was there', hint: `One person on each line, for example Mother (up to ${MAX_LENGTH.person} characters each)`, value: body.people_present.join('\n'), rows: 3 })}
      <div class="govuk-form-group">
        <fieldset class="govuk-fieldset">
          <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">Children on this visit</legend>
          <div class="govuk-checkboxes">${children}</div>
        </fieldset>
      </div>
      <p class="govuk-body-s app-autosave" id="autosave-note" role="status"></p>
      <div class="govuk-button-group">
        <button type="button" class="govuk-button" data-next>Continue</button>
        <a class="govuk-link" href="#/">Back to the caseload</a>
      </div>
    </form>`;
  const form = main.querySelector('#visit-form');
  const flush = autosave(form, visit);
  form.addEventListener('change', async (event) => {
    if (event.target.name !== 'visit-child') return;
    const chosen = [...form.querySelectorAll('[name="visit-child"]:checked')].map((box) => box.value);
    const kept = new Map(visit.body.children.map((entry) => [entry.child_id, entry]));
    visit.body.children = chosen.map((id) => kept.get(id) || blankChild(id));
  });
  form.querySelector('[data-next]').addEventListener('click', async () => {
    await flush();
    go(steps(visit)[1]);
  });
}

export { fieldId, filesOf };
