// A conflict: the visit changed on the server since the tablet's copy was made. Both copies are
// shown side by side and the worker chooses which one stands.
import { LABELS, esc, formatDateTime } from './html.js';
import { db, forgetVisit } from './store.js';
import { bodyOf, syncNow } from './sync.js';
import { caseOf, childName } from './visit.js';

const EDITABLE = ['draft', 'returned']; // what the tablet may still replace
const TEXT = (value) => (value === null || value === undefined || value === '' ? '–' : String(value));
const YES_NO = (value) => (value === true ? 'Yes' : value === false ? 'No' : '–');

function rows(server, tablet, caseRecord) {
  const lines = [
    ['Type of visit', (v) => LABELS.visit_type[v.visit_type] || v.visit_type],
    ['Announced', (v) => YES_NO(v.announced)],
    ['Started at', (v) => formatDateTime(v.started_at)],
    ['Ended at', (v) => formatDateTime(v.ended_at)],
    ['Where', (v) => TEXT(v.location)],
    ['Who was there', (v) => (v.people_present || []).join(', ') || '–'],
  ];
  const children = new Set([...server.children, ...tablet.children].map((entry) => entry.child_id));
  children.forEach((childId) => {
    const name = childName(caseRecord, childId);
    const of = (v) => v.children.find((entry) => entry.child_id === childId) || {};
    const voice = (v) => of(v).voice || {};
    lines.push(
      [`${name}: seen`, (v) => YES_NO(of(v).seen)],
      [`${name}: seen alone`, (v) => YES_NO(of(v).seen_alone)],
      [`${name}: bedroom seen`, (v) => YES_NO(of(v).bedroom_seen)],
      [`${name}: own words`, (v) => TEXT(voice(v).own_words)],
      [`${name}: wishes and feelings`, (v) => TEXT(voice(v).wishes_and_feelings)],
      [`${name}: good things`, (v) => TEXT(voice(v).good_things)],
      [`${name}: worries`, (v) => TEXT(voice(v).worries)],
      [`${name}: dreams`, (v) => TEXT(voice(v).dreams)],
    );
  });
  lines.push(
    ['Observations', (v) => TEXT(v.observations)],
    ['Analysis', (v) => TEXT(v.analysis)],
    ['Next actions', (v) => TEXT(v.next_actions)],
  );
  return lines.map(([label, show]) => {
    const left = show(server);
    const right = show(tablet);
    const differs = left !== right ? ' app-differs' : '';
    return `<tr class="govuk-table__row${differs}"><th scope="row" class="govuk-table__header">${esc(label)}${left !== right ? ' <span class="govuk-tag govuk-tag--yellow">Differs</span>' : ''}</th>
      <td class="govuk-table__cell">${esc(left)}</td><td class="govuk-table__cell">${esc(right)}</td></tr>`;
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
        <tbody class="govuk-table__body">${rows(server, visit.body, caseRecord)}</tbody>
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
