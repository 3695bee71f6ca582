// Small builders for GOV.UK Frontend markup. Every value passes through esc(): the page is
// drawn with innerHTML from records that hold what families said.

export function esc(value) {
  return String(value ?? '')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&#39;');
}

export const LABELS = {
  plan_type: {
    child_protection: 'Child protection',
    child_in_need: 'Child in need',
    looked_after: 'Looked after',
    private_fostering: 'Private fostering',
    care_leaver: 'Care leaver',
  },
  visit_type: { statutory: 'Statutory visit', review: 'Review', core_group: 'Core group', other: 'Other' },
  not_seen_reason: {
    child_not_home: 'The child was not at home',
    no_access: 'No access to the home',
    parent_refused: 'The parent or carer refused',
    child_refused: 'The child refused',
    other: 'Another reason',
  },
  not_seen_alone_reason: {
    child_refused: 'The child refused',
    inappropriate_age_understanding: 'Not appropriate for their age or understanding',
    unable: 'I was unable to',
    parent_refused: 'The parent or carer refused',
  },
  method: {
    talking: 'Talking',
    drawing: 'Drawing',
    play: 'Play',
    app: 'An app',
    observation: 'Observation (for a child too young to say)',
    written: 'Written by the child',
  },
  scored_by: { child: 'The child', parent: 'A parent or carer', worker: 'Me (the social worker)' },
};

/** The id a field's input has on the page, from its path in the visit body. */
export function fieldId(path) {
  return `f-${path.replace(/\./g, '-')}`;
}

function errorMessage(errors, path) {
  const messages = errors[path] || [];
  return messages
    .map((m) => `<p class="govuk-error-message" id="${fieldId(path)}-error"><span class="govuk-visually-hidden">Error:</span> ${esc(m)}</p>`)
    .join('');
}

function groupClass(errors, path) {
  return errors[path] ? 'govuk-form-group govuk-form-group--error' : 'govuk-form-group';
}

function described(errors, path, hint) {
  const ids = [];
  if (hint) ids.push(`${fieldId(path)}-hint`);
  if (errors[path]) ids.push(`${fieldId(path)}-error`);
  return ids.length ? ` aria-describedby="${ids.join(' ')}"` : '';
}

/** The service's limits on single-line answers (api_schemas/visits.py and common.py). */
export const MAX_LENGTH = { location: 100, person: 200, scale_question: 500, detail: 2000 };

export function textInput({ path, label, value, hint, type = 'text', errors = {}, cls = '', max = null }) {
  const id = fieldId(path);
  return `<div class="${groupClass(errors, path)}">
    <label class="govuk-label govuk-label--s" for="${id}">${esc(label)}</label>
    ${hint ? `<div class="govuk-hint" id="${id}-hint">${esc(hint)}</div>` : ''}
    ${errorMessage(errors, path)}
    <input class="govuk-input ${cls}" id="${id}" name="${esc(path)}" type="${type}" value="${esc(value)}"${max ? ` maxlength="${max}"` : ''}${described(errors, path, hint)}>
  </div>`;
}

/** The longest free text the service takes (its schemas refuse more). */
export const MAX_TEXT = 20000;

export function textarea({ path, label, value, hint, rows = 4, errors = {}, labelClass = 'govuk-label--s', max = MAX_TEXT }) {
  const id = fieldId(path);
  return `<div class="${groupClass(errors, path)}">
    <label class="govuk-label ${labelClass}" for="${id}">${esc(label)}</label>
    ${hint ? `<div class="govuk-hint" id="${id}-hint">${esc(hint)}</div>` : ''}
    ${errorMessage(errors, path)}
    <textarea class="govuk-textarea" id="${id}" name="${esc(path)}" rows="${rows}" maxlength="${max}"${described(errors, path, hint)}>${esc(value)}</textarea>
  </div>`;
}

/** Radios in a fieldset; ``options`` is [[value, label], ...]; values are strings. */
export function radios({ path, legend, options, value, hint, errors = {}, inline = false, small = false }) {
  const id = fieldId(path);
  const items = options
    .map(([optionValue, label], index) => {
      const itemId = index === 0 ? id : `${id}-${index}`;
      const checked = String(value) === String(optionValue) ? ' checked' : '';
      return `<div class="govuk-radios__item">
        <input class="govuk-radios__input" id="${itemId}" name="${esc(path)}" type="radio" value="${esc(optionValue)}"${checked}>
        <label class="govuk-label govuk-radios__label" for="${itemId}">${esc(label)}</label>
      </div>`;
    })
    .join('');
  const classes = ['govuk-radios', inline ? 'govuk-radios--inline' : '', small ? 'govuk-radios--small' : ''].join(' ');
  return `<div class="${groupClass(errors, path)}">
    <fieldset class="govuk-fieldset"${described(errors, path, hint)}>
      <legend class="govuk-fieldset__legend govuk-fieldset__legend--s">${esc(legend)}</legend>
      ${hint ? `<div class="govuk-hint" id="${id}-hint">${esc(hint)}</div>` : ''}
      ${errorMessage(errors, path)}
      <div class="${classes}">${items}</div>
    </fieldset>
  </div>`;
}

export const YES_NO = [['true', 'Yes'], ['false', 'No']];

function errorParagraph(path, message) {
  const p = document.createElement('p');
  p.className = 'govuk-error-message';
  p.id = `${fieldId(path)}-error`;
  p.innerHTML = `<span class="govuk-visually-hidden">Error:</span> ${esc(message)}`;
  return p;
}

/** Mark a drawn form's fields with the rules as they stand now: messages no longer true go,
 * new ones appear on their field (or in a [data-errors-for] place for a rule with no field). */
export function markErrors(form, errors) {
  form.querySelectorAll('.govuk-error-message[id$="-error"], [data-errors-for] .govuk-error-message').forEach((old) => old.remove());
  form.querySelectorAll('.govuk-form-group--error').forEach((group) => group.classList.remove('govuk-form-group--error'));
  form.querySelectorAll('[aria-describedby]').forEach((element) => {
    const ids = element.getAttribute('aria-describedby').split(' ').filter((id) => !id.endsWith('-error'));
    if (ids.length) element.setAttribute('aria-describedby', ids.join(' '));
    else element.removeAttribute('aria-describedby');
  });
  Object.entries(errors).forEach(([path, messages]) => {
    const place = form.querySelector(`[data-errors-for="${path}"]`);
    if (place) {
      messages.forEach((message) => place.append(errorParagraph(path, message)));
      return;
    }
    const field = form.querySelector(`#${fieldId(path)}`);
    const group = field && field.closest('.govuk-form-group');
    if (!group) return;
    group.classList.add('govuk-form-group--error');
    const fieldset = group.querySelector('fieldset');
    const before = fieldset ? fieldset.querySelector('.govuk-radios') : field;
    const described = fieldset || field;
    before.before(errorParagraph(path, messages.join(' ')));
    const ids = (described.getAttribute('aria-describedby') || '').split(' ').filter(Boolean);
    described.setAttribute('aria-describedby', [...ids, `${fieldId(path)}-error`].join(' '));
  });
}

/** The GOV.UK error summary: each message links to its field (on this screen or another). */
export function errorSummary(errors, hrefOf = (path) => `#${fieldId(path)}`, title = 'There is a problem') {
  const rows = Object.entries(errors).flatMap(([path, messages]) =>
    messages.map((message) => `<li><a href="${esc(hrefOf(path))}">${esc(message)}</a></li>`),
  );
  if (!rows.length) return '';
  return `<div class="govuk-error-summary" data-module="govuk-error-summary" tabindex="-1">
    <div role="alert">
      <h2 class="govuk-error-summary__title">${esc(title)}</h2>
      <div class="govuk-error-summary__body"><ul class="govuk-list govuk-error-summary__list">${rows.join('')}</ul></div>
    </div>
  </div>`;
}

export function tag(text, colour = '') {
  return `<strong class="govuk-tag ${colour ? `govuk-tag--${colour}` : ''}">${esc(text)}</strong>`;
}

export function formatDate(iso) {
  if (!iso) return 'Never';
  const date = new Date(iso.length === 10 ? `${iso}T00:00:00` : iso);
  return date.toLocaleDateString('en-GB', { day: 'numeric', month: 'short', year: 'numeric' });
}

export function formatDateTime(iso) {
  if (!iso) return '';
  return new Date(iso).toLocaleString('en-GB', { day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit' });
}

/** An ISO time as the value of an <input type="datetime-local"> in the tablet's time zone. */
export function localInput(iso) {
  if (!iso) return '';
  const date = new Date(iso);
  const shifted = new Date(date.getTime() - date.getTimezoneOffset() * 60000);
  return shifted.toISOString().slice(0, 16);
}

/** A datetime-local value back to an ISO time with its offset (UTC). */
export function fromLocalInput(value) {
  if (!value) return null;
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? null : date.toISOString();
}
