// The last screen: the worker's observations, analysis and next actions, when the visit ended,
// and the submit rules, shown as they stand before the server is asked.
import { errorSummary, esc, fieldId, localInput, textInput, textarea } from './html.js';
import { submissionErrors } from './rules.js';
import { api, ApiError } from './api.js';
import { db, filesOf, forgetVisit } from './store.js';
import { syncNow } from './sync.js';
import { autosave, bodyToSend, caseOf, childName, mergeErrors, partialScales, returnedNotice, saveVisit, serviceErrors, steps } from './visit.js';

const FINISH_FIELDS = ['observations', 'analysis', 'next_actions', 'ended_at'];

/** Messages by path, each about a child led by the child's name (a summary lists them together). */
function named(visit, caseRecord, errors) {
  return Object.fromEntries(Object.entries(errors).map(([path, messages]) => {
    const child = /^children\.(\d+)\./.exec(path);
    const entry = child && visit.body.children[Number(child[1])];
    const who = entry ? `${childName(caseRecord, entry.child_id)}: ` : '';
    return [path, messages.map((message) => who + message)];
  }));
}

/** Where a rule's message sends the worker: the screen and field it is about. */
function hrefFor(visit, path) {
  const child = /^children\.(\d+)\.(.*)$/.exec(path);
  if (!child) return FINISH_FIELDS.includes(path) ? `#${fieldId(path)}` : `#/visit/${visit.id}?field=${fieldId(path)}`;
  const field = child[2] === 'voice' ? `children.${child[1]}.voice.own_words` : path;
  return `#/visit/${visit.id}/child/${child[1]}?field=${fieldId(field)}`;
}

/** The rules the visit does not meet yet, the same as the server's 422 would list. */
export async function outstanding(visit) {
  const files = await filesOf(visit.id);
  const refused = {};
  visit.body.children.forEach((entry, index) => {
    files.filter((file) => file.error && file.child_id === entry.child_id).forEach((file) => {
      refused[`children.${index}.${file.kind}`] = [`The service did not accept a ${file.kind}: remove it to submit.`];
    });
  });
  const rules = { ...partialScales(visit.body), ...refused, ...submissionErrors(bodyToSend(visit.body), files) };
  // What the service refused stands until the answer changes or the service takes the visit.
  return mergeErrors(rules, serviceErrors(visit));
}

async function checklist(visit) {
  const errors = await outstanding(visit);
  const caseRecord = await caseOf(visit);
  const rows = Object.entries(named(visit, caseRecord, errors)).flatMap(([path, messages]) =>
    messages.map((message) => `<li><a class="govuk-link" href="${esc(hrefFor(visit, path))}">${esc(message)}</a></li>`));
  return {
    errors,
    html: rows.length
      ? `<ul class="govuk-list govuk-list--bullet">${rows.join('')}</ul>`
      : '<p class="govuk-body">Everything the service checks is recorded. You can submit the visit.</p>',
  };
}

/** Delete a draft never submitted: here, and on the service if it reached it (online only). */
async function deleteDraft(visit, status) {
  const stored = await db.visits.get(visit.id);
  if (stored && stored.base_version !== null && stored.base_version !== undefined) {
    if (!navigator.onLine) {
      status.textContent = 'This draft is also on the service: delete it when the tablet is online.';
      return false;
    }
    try {
      await api(`/visits/${visit.id}`, { method: 'DELETE', headers: { 'If-Match': `"${stored.base_version}"` } });
    } catch (error) {
      if (!(error instanceof ApiError) || error.status !== 404) {
        status.textContent = `The draft could not be deleted: ${error.message}`;
        return false;
      }
    }
  }
  await forgetVisit(visit.id);
  return true;
}

export async function renderFinish(main, visit, go, flash) {
  const endsNow = !visit.body.ended_at; // first time here: the visit ends now, unless changed
  if (endsNow) visit.body.ended_at = new Date().toISOString();
  const body = visit.body;
  const caseRecord = await caseOf(visit);
  const rejected = errorSummary(named(visit, caseRecord, serviceErrors(visit)), (path) => hrefFor(visit, path), 'The service did not accept this visit');
  main.innerHTML = `
    <span class="govuk-caption-l">Finish the visit</span>
    <h1 class="govuk-heading-l" tabindex="-1">Your observations and analysis</h1>
    ${visit.state === 'queued' ? '<div class="govuk-inset-text">This visit is submitted and waiting to be sent. If you change it, submit it again.</div>' : ''}
    ${returnedNotice(visit)}
    <div id="summary">${rejected}</div>
    <form id="finish-form" novalidate>
      ${textarea({ path: 'observations', label: 'Observations', hint: 'What you saw and heard in the home', value: body.observations, rows: 5 })}
      ${textarea({ path: 'analysis', label: 'Analysis', hint: 'What it means for the child', value: body.analysis, rows: 5 })}
      ${textarea({ path: 'next_actions', label: 'Next actions', value: body.next_actions, rows: 4 })}
      ${textInput({ path: 'ended_at', label: 'Ended at', value: localInput(body.ended_at), type: 'datetime-local', cls: 'govuk-input--width-20' })}
      <h2 class="govuk-heading-m">Before you submit</h2>
      <div id="checklist" aria-live="polite"></div>
      <p class="govuk-body-s app-autosave" id="autosave-note" role="status"></p>
      <div class="govuk-button-group">
        <button type="button" class="govuk-button" data-submit>Submit visit</button>
        <button type="button" class="govuk-button govuk-button--secondary" data-later>Save and finish later</button>
        <button type="button" class="govuk-button govuk-button--secondary" data-back>Previous</button>
      </div>
      ${visit.review_comment ? '' : `<p class="govuk-body"><button type="button" class="govuk-button govuk-button--warning" data-delete>Delete this draft</button></p>
      <div id="delete-confirm" hidden></div>
      <p class="govuk-body-s" role="status" id="delete-status"></p>`}
    </form>`;
  const form = main.querySelector('#finish-form');
  const showChecklist = async () => {
    form.querySelector('#checklist').innerHTML = (await checklist(visit)).html;
  };
  const flush = autosave(form, visit, showChecklist);
  if (endsNow) await saveVisit(visit);
  await showChecklist();
  const all = steps(visit);
  form.querySelector('[data-back]').addEventListener('click', async () => {
    await flush();
    go(all[all.length - 2]);
  });
  form.querySelector('[data-later]').addEventListener('click', async () => {
    await flush();
    flash('The visit is saved on this tablet as a draft.');
    syncNow();
    go('#/');
  });
  // Deleting asks first, saying what goes: on this tablet, and on the service if it has the draft.
  form.querySelector('[data-delete]')?.addEventListener('click', async () => {
    const stored = await db.visits.get(visit.id);
    const onService = stored && stored.base_version !== null && stored.base_version !== undefined;
    const files = (await filesOf(visit.id)).length;
    const confirm = form.querySelector('#delete-confirm');
    confirm.innerHTML = `
      <h2 class="govuk-heading-m" tabindex="-1">Delete this draft?</h2>
      <div class="govuk-warning-text"><span class="govuk-warning-text__icon" aria-hidden="true">!</span><strong class="govuk-warning-text__text"><span class="govuk-visually-hidden">Warning</span>
        This deletes the draft visit${files ? `, with its ${files} drawing${files === 1 ? '' : 's'}, photo${files === 1 ? '' : 's'} and recording${files === 1 ? '' : 's'},` : ''} from this tablet${onService ? ' and from the service, which holds a copy of it' : ' (it has not reached the service)'}. It cannot be undone.</strong></div>
      <div class="govuk-button-group">
        <button type="button" class="govuk-button govuk-button--warning" data-confirm-delete>Yes, delete this draft</button>
        <button type="button" class="govuk-button govuk-button--secondary" data-cancel-delete>Cancel</button>
      </div>`;
    confirm.hidden = false;
    confirm.querySelector('h2').focus();
    confirm.querySelector('[data-cancel-delete]').addEventListener('click', () => {
      confirm.hidden = true;
      confirm.innerHTML = '';
      form.querySelector('[data-delete]').focus();
    });
    confirm.querySelector('[data-confirm-delete]').addEventListener('click', async () => {
      if (await deleteDraft(visit, form.querySelector('#delete-status'))) {
        flash('The draft is deleted.');
        go('#/');
      }
    });
  });
  form.querySelector('[data-submit]').addEventListener('click', async () => {
    await flush();
    const { errors } = await checklist(visit);
    if (Object.keys(errors).length) {
      visit.tried_submit = true;
      await db.visits.update(visit.id, { tried_submit: true });
      const summary = main.querySelector('#summary');
      summary.innerHTML = errorSummary(named(visit, caseRecord, errors), (path) => hrefFor(visit, path), 'Before you can submit this visit');
      summary.querySelector('.govuk-error-summary').focus();
      return;
    }
    await saveVisit(visit, 'queued');
    flash(navigator.onLine
      ? 'Visit submitted. It is being sent to the service now.'
      : 'Visit submitted on this tablet. It will be sent when the tablet is back online.');
    syncNow();
    go('#/');
  });
}
