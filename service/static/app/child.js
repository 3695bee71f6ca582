// One screen per child, in the order a visit happens: seen, seen alone, bedroom; then the
// child's own words (their box, apart from the worker's reading of them), the Three Houses,
// a scale, a drawing, photos and a recording.
import { LABELS, MAX_LENGTH, YES_NO, esc, fieldId, markErrors, radios, textInput, textarea } from './html.js';
import { outstanding } from './finish.js';
import { audioRecorder, drawingPad, photoInput, releasePreviews, renderFiles } from './evidence.js';
import { autosave, caseOf, childName, returnedNotice, serviceErrors, steps } from './visit.js';

const SCORES = Array.from({ length: 11 }, (_, score) => [String(score), String(score)]);

function voiceSection(p, voice, name, errors) {
  const scale = voice.scale || {};
  return `
    <h2 class="govuk-heading-m">${esc(name)}'s views</h2>
    <div data-errors-for="${p}.voice">${(errors[`${p}.voice`] || []).map((message) => `<p class="govuk-error-message"><span class="govuk-visually-hidden">Error:</span> ${esc(message)}</p>`).join('')}</div>
    <div data-errors-for="${p}.voice.scale">${(errors[`${p}.voice.scale`] || []).map((message) => `<p class="govuk-error-message"><span class="govuk-visually-hidden">Error:</span> ${esc(message)}</p>`).join('')}</div>
    <div class="app-own-words">
      ${textarea({ path: `${p}.voice.own_words`, label: `In ${name}'s own words`, labelClass: 'govuk-label--m', hint: 'Write down exactly what the child said, in their words. Do not summarise.', value: voice.own_words, rows: 5 })}
    </div>
    ${textarea({ path: `${p}.voice.wishes_and_feelings`, label: 'Wishes and feelings: your understanding', hint: 'Your interpretation, kept apart from the child\u2019s own words', value: voice.wishes_and_feelings })}
    <fieldset class="govuk-fieldset app-houses">
      <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">Three Houses</legend>
      ${textarea({ path: `${p}.voice.good_things`, label: 'House of good things', value: voice.good_things, rows: 3 })}
      ${textarea({ path: `${p}.voice.worries`, label: 'House of worries', value: voice.worries, rows: 3 })}
      ${textarea({ path: `${p}.voice.dreams`, label: 'House of dreams', value: voice.dreams, rows: 3 })}
    </fieldset>
    <fieldset class="govuk-fieldset app-scale">
      <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">Scale from 0 to 10</legend>
      ${textInput({ path: `${p}.voice.scale.question`, errors, max: MAX_LENGTH.scale_question, label: 'The question asked', hint: 'For example, how safe do you feel at home?', value: scale.question })}
      ${radios({ path: `${p}.voice.scale.score`, legend: 'Score (0 is the worst, 10 the best)', value: scale.score ?? '', options: SCORES, inline: true, small: true })}
      ${radios({ path: `${p}.voice.scale.scored_by`, legend: 'Who gave the score?', value: scale.scored_by, options: Object.entries(LABELS.scored_by) })}
    </fieldset>
    ${radios({ path: `${p}.voice.method`, legend: 'How were the views gathered?', value: voice.method, options: Object.entries(LABELS.method) })}`;
}

function evidenceSection(p, voice, name) {
  return `
    <h2 class="govuk-heading-m">Drawing</h2>
    <div class="app-drawing" data-drawing>
      <p class="govuk-body" id="drawing-help">${esc(name)} can draw here with a finger. Save the drawing to keep it; it counts as ${esc(name)}'s views.</p>
      <div class="govuk-button-group app-pens" role="group" aria-label="Pen colour">
        <button type="button" class="govuk-button govuk-button--secondary app-small-button" data-pen="#0b0c0c" aria-pressed="true">Black pen</button>
        <button type="button" class="govuk-button govuk-button--secondary app-small-button" data-pen="#d4351c" aria-pressed="false">Red pen</button>
        <button type="button" class="govuk-button govuk-button--secondary app-small-button" data-pen="#1d70b8" aria-pressed="false">Blue pen</button>
        <button type="button" class="govuk-button govuk-button--secondary app-small-button" data-pen="#00703c" aria-pressed="false">Green pen</button>
      </div>
      <canvas class="app-canvas" role="img" aria-label="Drawing area for ${esc(name)}" aria-describedby="drawing-help"></canvas>
      <div class="govuk-button-group">
        <button type="button" class="govuk-button" data-save-drawing>Save drawing</button>
        <button type="button" class="govuk-button govuk-button--secondary" data-clear>Clear</button>
      </div>
      <p class="govuk-body-s" role="status" data-drawing-status></p>
      <h3 class="govuk-heading-s">Saved drawings</h3>
      <div data-files="drawing" id="${fieldId(`${p}.drawing`)}" tabindex="-1"></div>
    </div>
    <h2 class="govuk-heading-m">Photos</h2>
    <div class="govuk-form-group">
      <label class="govuk-label govuk-label--s" for="photo-input">Take or add a photo</label>
      <div class="govuk-hint">For example, the child's bedroom. Location data is removed by the service.</div>
      <input class="govuk-file-upload" id="photo-input" type="file" accept="image/jpeg,image/png" capture="environment" multiple>
    </div>
    <div data-files="photo" id="${fieldId(`${p}.photo`)}" tabindex="-1"></div>
    <h2 class="govuk-heading-m">Audio recording</h2>
    <div data-audio>
      ${radios({ path: `${p}.voice.consent_to_share`, legend: `Does ${name} agree to what they said (and any recording) being shared?`, value: voice.consent_to_share, options: YES_NO, inline: true })}
      <div class="govuk-button-group">
        <button type="button" class="govuk-button govuk-button--secondary" data-record>Start recording</button>
        <button type="button" class="govuk-button govuk-button--warning" data-stop disabled>Stop recording</button>
      </div>
      <p class="govuk-body-s" role="status" data-audio-status></p>
      <div data-files="audio" id="${fieldId(`${p}.audio`)}" tabindex="-1"></div>
    </div>
    ${textarea({ path: `${p}.voice.not_gathered_reason`, label: `If ${name}'s views could not be gathered, why not?`, value: voice.not_gathered_reason, rows: 2 })}`;
}

/** The submit rules this child does not meet yet (their paths start children.<index>.). */
async function childRules(visit, index) {
  const prefix = `children.${index}.`;
  const all = await outstanding(visit);
  return Object.fromEntries(Object.entries(all).filter(([path]) => path.startsWith(prefix)));
}

/** The screen for the child at ``index`` on the visit. */
export async function renderChild(main, visit, index, go) {
  const entry = visit.body.children[index];
  if (!entry) return go(`#/visit/${visit.id}`);
  const caseRecord = await caseOf(visit);
  const name = childName(caseRecord, entry.child_id);
  const p = `children.${index}`;
  const voice = entry.voice || {};
  const all = steps(visit);
  const here = all.indexOf(`#/visit/${visit.id}/child/${index}`);
  // Once the worker has tried to submit, the fields the rules name are marked where they are.
  const tried = () => visit.tried_submit || visit.state === 'rejected';
  // What the service refused (an answer too long for it) is marked whether or not a submit was tried.
  const refusedHere = () => Object.fromEntries(Object.entries(serviceErrors(visit)).filter(([path]) => path.startsWith(`${p}.`)));
  const errors = tried() ? await childRules(visit, index) : refusedHere();
  main.innerHTML = `
    <span class="govuk-caption-l">Child ${index + 1} of ${visit.body.children.length}</span>
    <h1 class="govuk-heading-l" tabindex="-1">${esc(name)}</h1>
    ${returnedNotice(visit)}
    <form id="child-form" novalidate>
      ${radios({ path: `${p}.seen`, errors, legend: `Was ${name} seen?`, value: entry.seen, options: YES_NO, inline: true })}
      <div data-when="${p}.seen=false" data-clear-unless class="app-conditional">
        ${radios({ path: `${p}.not_seen_reason`, errors, legend: 'Why not?', value: entry.not_seen_reason, options: Object.entries(LABELS.not_seen_reason) })}
        ${textarea({ path: `${p}.not_seen_detail`, errors, max: MAX_LENGTH.detail, label: 'More detail', value: entry.not_seen_detail, rows: 2 })}
      </div>
      <div data-when="${p}.seen=true" class="app-conditional">
        <div data-when="${p}.seen=true" data-clear-unless>
          ${radios({ path: `${p}.seen_alone`, errors, legend: `Was ${name} seen alone?`, value: entry.seen_alone, options: YES_NO, inline: true })}
          <div data-when="${p}.seen_alone=false" data-clear-unless class="app-conditional">
            ${radios({ path: `${p}.not_seen_alone_reason`, errors, legend: 'Why not alone?', hint: 'Regulation 29 of the Care Planning regulations', value: entry.not_seen_alone_reason, options: Object.entries(LABELS.not_seen_alone_reason) })}
            ${textarea({ path: `${p}.not_seen_alone_detail`, errors, max: MAX_LENGTH.detail, label: 'More detail', value: entry.not_seen_alone_detail, rows: 2 })}
          </div>
        </div>
        ${radios({ path: `${p}.bedroom_seen`, legend: `Did you see ${name}'s bedroom?`, value: entry.bedroom_seen, options: YES_NO, inline: true })}
        ${voiceSection(p, voice, name, errors)}
        ${evidenceSection(p, voice, name)}
      </div>
      <div class="govuk-inset-text app-rules">
        <h2 class="govuk-heading-s">Before the visit can be submitted</h2>
        <div id="child-rules" aria-live="polite"></div>
      </div>
      <p class="govuk-body-s app-autosave" id="autosave-note" role="status"></p>
      <div class="govuk-button-group">
        <button type="button" class="govuk-button" data-next>Continue</button>
        <button type="button" class="govuk-button govuk-button--secondary" data-back>Previous</button>
      </div>
    </form>`;
  const form = main.querySelector('#child-form');
  const showRules = async () => {
    const rules = await childRules(visit, index);
    // Once the worker has tried to submit, the fields carry the rules as they stand now.
    markErrors(form, tried() ? rules : refusedHere());
    const rows = Object.entries(rules).flatMap(([path, messages]) => messages.map((message) => {
      const target = path.endsWith('.voice') ? `${path}.own_words` : path;
      return `<li><a class="govuk-link" href="#${fieldId(target)}">${esc(message)}</a></li>`;
    }));
    form.querySelector('#child-rules').innerHTML = rows.length
      ? `<ul class="govuk-list govuk-list--bullet">${rows.join('')}</ul>`
      : `<p class="govuk-body">Everything the service checks for ${esc(name)} is recorded.</p>`;
  };
  const flush = autosave(form, visit, showRules);
  await showRules();
  const refresh = (kind) => renderFiles(form.querySelector(`[data-files="${kind}"]`), visit, entry.child_id, kind);
  ['drawing', 'photo', 'audio'].forEach(refresh);
  const stopPad = drawingPad(form.querySelector('[data-drawing]'), visit, entry.child_id, () => refresh('drawing'));
  photoInput(form.querySelector('#photo-input'), visit, entry.child_id, () => refresh('photo'));
  audioRecorder(form.querySelector('[data-audio]'), visit, entry.child_id, () => refresh('audio'));
  const leave = async (target) => {
    await flush();
    stopPad();
    releasePreviews();
    go(target);
  };
  form.querySelector('[data-next]').addEventListener('click', () => leave(all[here + 1]));
  form.querySelector('[data-back]').addEventListener('click', () => leave(all[here - 1]));
  return undefined;
}
