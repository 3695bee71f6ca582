// A conflict: the visit changed on the server since the tablet's copy was made. Both copies are
// shown side by side and the worker chooses which one stands.
import { LABELS, esc, formatDateTime } from './html.js';
import { db, forgetVisit } from './store.js';
import { bodyOf, syncNow } from './sync.js';
import { caseOf, childName } from './visit.js';

const EDITABLE = ['draft', 'returned']; // what the tablet may still replace
const TEXT = (value) => (value === null || value === undefined || value === '' ? '–' : String(value));
const YES_NO = (value) => (value === true ? 'Yes' : value === false ? 'No' : '–');

// The fields people know by name, in the order a visit is recorded; any other field of the body
// is still compared, under its own path, so no difference can hide.
const NAMED = {
  visit_type: 'Type of visit', announced: 'Announced', started_at: 'Started at', ended_at: 'Ended at',
  location: 'Where', people_present: 'Who was there', observations: 'Observations', analysis: 'Analysis',
  next_actions: 'Next actions', seen: 'seen', seen_alone: 'seen alone', bedroom_seen: 'bedroom seen',
  not_seen_reason: 'why not seen', not_seen_detail: 'why not seen: detail',
  not_seen_alone_reason: 'why not seen alone', not_seen_alone_detail: 'why not seen alone: detail',
  'voice.own_words': 'own words', 'voice.wishes_and_feelings': 'wishes and feelings',
  'voice.good_things': 'good things', 'voice.worries': 'worries', 'voice.dreams': 'dreams',
  'voice.scale.question': 'scale: question', 'voice.scale.score': 'scale: score',
  'voice.scale.scored_by': 'scale: scored by', 'voice.method': 'how views were gathered',
  'voice.consent_to_share': 'consent to share', 'voice.not_gathered_reason': 'why views could not be gathered',
};
const CHOICES = {
  visit_type: LABELS.visit_type, not_seen_reason: LABELS.not_seen_reason,
  not_seen_alone_reason: LABELS.not_seen_alone_reason, 'voice.method': LABELS.method,
  'voice.scale.scored_by': LABELS.scored_by,
};
const TIMES = ['started_at', 'ended_at'];

/** Every leaf of a value as path -> value (a list of plain values stays one value). */
function flatten(value, prefix, out) {
  if (Array.isArray(value) && value.some((item) => item !== null && typeof item === 'object')) {
    value.forEach((item, index) => flatten(item, `${prefix}${index}.`, out));
  } else if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
    Object.entries(value).forEach(([key, inner]) => flatten(inner, `${prefix}${key}.`, out));
  } else if (prefix) {
    out[prefix.slice(0, -1)] = value;
  }
  return out;
}

function shown(path, value) {
  if (typeof value === 'boolean') return YES_NO(value);
  if (Array.isArray(value)) return value.join(', ') || '–';
  if (TIMES.includes(path) && value) return formatDateTime(value);
  if (CHOICES[path] && CHOICES[path][value]) return CHOICES[path][value];
  return TEXT(value);
}

/** Both copies as {path: value}, children matched by who they are, not where they are listed. */
function leaves(body) {
  // The case (and the visit's id) is one and the same in both copies: no row for it.
  const { children = [], case_id: _caseId, id: _id, ...rest } = body;
  const out = flatten(rest, '', {});
  children.forEach((entry) => {
    const { child_id: childId, ...fields } = entry;
    Object.entries(flatten(fields, '', {})).forEach(([path, value]) => { out[`children.${childId}.${path}`] = value; });
  });
  return out;
}

/** A value as compared: nothing is nothing however it is written; a time is its instant. */
function same(path, value) {
  if (value === undefined || value === '' || (Array.isArray(value) && !value.length)) return null;
  if (TIMES.includes(path) && value) return Date.parse(value);
  return value;
}

function rows(server, tablet, caseRecord) {
  const left = leaves(server);
  const right = leaves(tablet);
  const order = Object.keys(NAMED);
  const rank = (path) => {
    const child = /^children\.([^.]+)\.(.*)$/.exec(path);
    const field = child ? child[2] : path;
    const known = order.indexOf(field);
    const place = known === -1 ? order.length : known;
    const group = child ? 1 : ['observations', 'analysis', 'next_actions'].includes(field) ? 2 : 0;
    return [group, child ? child[1] : '', place, path];
  };
  const paths = [...new Set([...Object.keys(left), ...Object.keys(right)])].sort((a, b) => {
    const [x, y] = [rank(a), rank(b)];
    for (let i = 0; i < x.length; i += 1) {
      if (x[i] < y[i]) return -1;
      if (x[i] > y[i]) return 1;
    }
    return 0;
  });
  return paths.filter((path) => {
    const field = path.replace(/^children\.[^.]+\./, '');
    return NAMED[field] || same(field, left[path]) !== null || same(field, right[path]) !== null;
  }).map((path) => {
    const child = /^children\.([^.]+)\.(.*)$/.exec(path);
    const field = child ? child[2] : path;
    const label = child ? `${childName(caseRecord, child[1])}: ${NAMED[field] || field}` : NAMED[field] || field;
    const one = shown(field, left[path]);
    const other = shown(field, right[path]);
    // Compared as recorded, not as shown: two values that read alike still differ.
    const differs = JSON.stringify(same(field, left[path])) !== JSON.stringify(same(field, right[path]));
    return `<tr class="govuk-table__row${differs ? ' app-differs' : ''}" data-path="${esc(path)}"><th scope="row" class="govuk-table__header">${esc(label)}${differs ? ' <span class="govuk-tag govuk-tag--yellow">Differs</span>' : ''}</th>
      <td class="govuk-table__cell">${esc(one)}</td><td class="govuk-table__cell">${esc(other)}</td></tr>`;
  }).join('');
}

export async function renderConflict(main, visit, go, flash) {
  const server = visit.server_visit;
  if (visit.state !== 'conflict' || !server) return go(`#/visit/${visit.id}`);
  const caseRecord = await caseOf(visit);
  const editable = EDITABLE.includes(server.status);
  main.innerHTML = `
    <h1 class="govuk-heading-l" tabindex="-1">This visit was changed somewhere else</h1>
    <p class="govuk-body">The service's copy changed after this tablet's copy was made (it is now version ${esc(server.version)}, ${esc(server.status)}). Compare them and choose the one to keep. The other is discarded.</p>
    <div class="app-table-scroll" role="region" aria-label="The two copies side by side" tabindex="0">
      <table class="govuk-table app-compare">
        <caption class="govuk-table__caption govuk-table__caption--m">The two copies</caption>
        <thead class="govuk-table__head"><tr class="govuk-table__row">
          <th scope="col" class="govuk-table__header">Field</th>
          <th scope="col" class="govuk-table__header">On the service</th>
          <th scope="col" class="govuk-table__header">On this tablet</th></tr></thead>
        <tbody class="govuk-table__body">${rows(bodyOf(server), visit.body, caseRecord)}</tbody>
      </table>
    </div>
    ${editable ? '' : `<div class="govuk-warning-text"><span class="govuk-warning-text__icon" aria-hidden="true">!</span><strong class="govuk-warning-text__text"><span class="govuk-visually-hidden">Warning</span>The service's copy has been ${esc(server.status)}, so this tablet cannot replace it. Keep the service's copy; a change to a submitted visit is made by amending it.</strong></div>`}
    <div class="govuk-button-group">
      ${editable ? `<button type="button" class="govuk-button" data-keep="tablet">Keep this tablet's copy</button>` : ''}
      <button type="button" class="govuk-button ${editable ? 'govuk-button--secondary' : ''}" data-keep="server">Keep the service's copy</button>
    </div>`;
  main.querySelector('[data-keep="tablet"]')?.addEventListener('click', async () => {
    // Edit on top of the server's version: the next sync replaces it with the tablet's copy.
    await db.visits.update(visit.id, {
      base_version: server.version, state: visit.submit_wanted ? 'queued' : 'draft', dirty: true, server_visit: null,
    });
    flash("This tablet's copy is kept; it is being sent to the service.");
    syncNow();
    go('#/');
  });
  main.querySelector('[data-keep="server"]').addEventListener('click', async () => {
    if (editable) {
      await db.visits.update(visit.id, {
        body: bodyOf(server), base_version: server.version, state: 'draft', dirty: false, server_visit: null,
      });
    } else {
      await forgetVisit(visit.id); // submitted on the service: nothing left to edit here
    }
    flash("The service's copy is kept.");
    go('#/');
  });
  return undefined;
}
