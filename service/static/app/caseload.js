// The caseload: every child, worst first, readable at a glance; from IndexedDB, so it works
// offline as it stood at the last sync. Above it, the visits this tablet still holds.
import { LABELS, esc, formatDate, formatDateTime, tag } from './html.js';
import { db, filesOf, getSetting } from './store.js';
import { caseOf, childName } from './visit.js';

const DAY_MS = 86400000;

function daysFromToday(isoDate) {
  const today = new Date();
  today.setHours(0, 0, 0, 0);
  return Math.round((new Date(`${isoDate}T00:00:00`) - today) / DAY_MS);
}

function dueTag(child) {
  if (!child.next_visit_due) return tag('No visit due', 'grey');
  const days = daysFromToday(child.next_visit_due);
  if (child.overdue) return tag(`Overdue by ${-days} day${days === -1 ? '' : 's'}`, 'red');
  if (days <= 5) return tag(`Due in ${days} day${days === 1 ? '' : 's'}`, 'yellow');
  return tag(`Due in ${days} days`, 'green');
}

/** Worst first: overdue longest, then due soonest; never-seen children before seen ones. */
export function worstFirst(a, b) {
  if (a.overdue !== b.overdue) return a.overdue ? -1 : 1;
  const dueA = a.next_visit_due || '9999-12-31';
  const dueB = b.next_visit_due || '9999-12-31';
  if (dueA !== dueB) return dueA < dueB ? -1 : 1;
  if (!a.last_seen_at !== !b.last_seen_at) return a.last_seen_at ? 1 : -1;
  return a.name.localeCompare(b.name);
}

const STATES = {
  draft: ['Draft', 'grey'],
  queued: ['Waiting to send', 'blue'],
  conflict: ['Changed elsewhere: choose a copy', 'orange'],
  rejected: ['Not accepted: check it', 'red'],
  returned: ['Returned by your supervisor', 'purple'],
};

async function visitRows(visits) {
  const rows = [];
  for (const visit of visits) {
    const caseRecord = await caseOf(visit);
    const names = visit.body.children.map((entry) => childName(caseRecord, entry.child_id)).join(', ');
    const refused = (await filesOf(visit.id)).some((file) => file.error);
    const state = (visit.errors || refused) && visit.state !== 'conflict' ? 'rejected' : visit.state;
    const [label, colour] = STATES[state] || [visit.state, 'grey'];
    const href = visit.state === 'conflict' ? `#/visit/${visit.id}/conflict` : `#/visit/${visit.id}`;
    const action = visit.state === 'conflict' ? 'Compare the copies' : visit.state === 'queued' ? 'View' : 'Continue';
    rows.push(`<li class="app-card" data-visit="${esc(visit.id)}">
      <h3 class="govuk-heading-s">${esc(names)} <span class="govuk-body-s">(case ${esc(caseRecord ? caseRecord.core_ref : '')})</span></h3>
      <p class="govuk-body-s">${tag(label, colour)} Started ${esc(formatDateTime(visit.body.started_at))}</p>
      ${visit.review_comment ? `<div class="govuk-inset-text">Your supervisor said: ${esc(visit.review_comment)}</div>` : ''}
      <a class="govuk-link" href="${href}">${action}<span class="govuk-visually-hidden"> the visit to ${esc(names)}</span></a>
    </li>`);
  }
  return rows.join('');
}

function childRow(child) {
  return `<li class="app-card app-child${child.overdue ? ' app-child--overdue' : ''}" data-child="${esc(child.id)}">
    <div class="app-child__head">
      <h3 class="govuk-heading-s app-child__name">${esc(child.name)} <span class="govuk-caption-m app-child__case">Case ${esc(child.core_ref)}</span></h3>
      ${dueTag(child)}
    </div>
    <dl class="govuk-summary-list govuk-summary-list--no-border app-facts">
      <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Plan</dt><dd class="govuk-summary-list__value">${esc(LABELS.plan_type[child.plan_type] || child.plan_type)}</dd></div>
      <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Last seen</dt><dd class="govuk-summary-list__value">${esc(formatDate(child.last_seen_at))}</dd></div>
      <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Last seen alone</dt><dd class="govuk-summary-list__value">${esc(formatDate(child.last_seen_alone_at))}</dd></div>
      <div class="govuk-summary-list__row"><dt class="govuk-summary-list__key">Next visit due</dt><dd class="govuk-summary-list__value">${esc(formatDate(child.next_visit_due))}</dd></div>
    </dl>
    <a class="govuk-button govuk-button--secondary app-small-button" href="#/visit/new/${esc(child.case_id)}">Record a visit<span class="govuk-visually-hidden"> to ${esc(child.name)}'s family (case ${esc(child.core_ref)})</span></a>
  </li>`;
}

export async function renderCaseload(main) {
  const cases = await db.cases.toArray();
  const children = cases.flatMap((entry) => entry.children.map((child) => ({ ...child, case_id: entry.id, core_ref: entry.core_ref })));
  children.sort(worstFirst);
  const visits = await db.visits.orderBy('id').toArray();
  visits.sort((a, b) => (a.updated_at < b.updated_at ? 1 : -1));
  const lastSync = await getSetting('last_sync');
  const overdue = children.filter((child) => child.overdue).length;
  main.innerHTML = `
    <h1 class="govuk-heading-l" tabindex="-1">Your caseload</h1>
    <p class="govuk-body">${children.length} children, ${overdue} overdue a visit. ${lastSync ? `Last brought up to date ${esc(formatDateTime(lastSync))}.` : 'Not brought up to date yet.'}</p>
    ${visits.length ? `<h2 class="govuk-heading-m">Visits on this tablet</h2><ul class="govuk-list app-cards" id="local-visits">${await visitRows(visits)}</ul>` : ''}
    <h2 class="govuk-heading-m">Children, most overdue first</h2>
    ${children.length ? `<ul class="govuk-list app-cards app-children" id="children">${children.map(childRow).join('')}</ul>` : '<p class="govuk-body">No children yet: sync when the tablet is online.</p>'}`;
}
