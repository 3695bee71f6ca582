// The rules a visit must meet before it can be submitted, shown before the server says them.
// A copy of service/visits/rules.py (submission_errors) and record.py (has_views), with the same
// field paths and the same messages; tests/browser/test_tablet_app.py checks they agree.

const VIEW_TEXTS = ['own_words', 'wishes_and_feelings', 'good_things', 'worries', 'dreams'];
const CLOCK_SKEW_MS = 5 * 60 * 1000;
const EARLIEST_VISIT = Date.UTC(2000, 0, 1);

/** Whether the child's views were captured: words, Three Houses, a scale, or their drawing. */
export function hasViews(entry, files) {
  const voice = entry.voice || {};
  if (VIEW_TEXTS.some((name) => (voice[name] || '').trim())) return true;
  if (voice.scale && voice.scale.score !== null && voice.scale.score !== undefined) return true;
  return files.some((file) => file.kind === 'drawing' && file.child_id === entry.child_id);
}

function add(errors, path, message) {
  (errors[path] = errors[path] || []).push(message);
}

function checkTimes(errors, started, ended, now) {
  if (started < EARLIEST_VISIT) add(errors, 'started_at', 'A visit recorded here cannot be before 2000.');
  if (started > now + CLOCK_SKEW_MS) add(errors, 'started_at', 'A visit cannot start in the future.');
  if (ended !== null) {
    if (ended <= started) add(errors, 'ended_at', 'The visit must end after it started.');
    if (ended > now + CLOCK_SKEW_MS) add(errors, 'ended_at', 'A visit cannot end in the future.');
  }
}

function checkChild(errors, prefix, entry, viewed) {
  if (entry.seen === null || entry.seen === undefined) {
    add(errors, `${prefix}.seen`, 'Say whether the child was seen.');
    return;
  }
  if (!entry.seen) {
    if (!entry.not_seen_reason) {
      add(errors, `${prefix}.not_seen_reason`, 'Give the reason the child was not seen.');
    } else if (entry.not_seen_reason === 'other' && !(entry.not_seen_detail || '').trim()) {
      add(errors, `${prefix}.not_seen_detail`, "Describe the reason when it is 'other'.");
    }
    if (entry.seen_alone) {
      add(errors, `${prefix}.seen_alone`, 'A child who was not seen cannot have been seen alone.');
    }
    return;
  }
  if (entry.not_seen_reason || (entry.not_seen_detail || '').trim()) {
    add(errors, `${prefix}.not_seen_reason`, 'Leave out why the child was not seen: they were seen.');
  }
  if (entry.seen_alone === null || entry.seen_alone === undefined) {
    add(errors, `${prefix}.seen_alone`, 'Say whether the child was seen alone.');
  } else if (!entry.seen_alone && !entry.not_seen_alone_reason) {
    add(errors, `${prefix}.not_seen_alone_reason`, 'Give the reason the child was not seen alone.');
  } else if (entry.seen_alone && (entry.not_seen_alone_reason || (entry.not_seen_alone_detail || '').trim())) {
    add(
      errors,
      `${prefix}.not_seen_alone_reason`,
      'Leave out why the child was not seen alone: they were seen alone.',
    );
  }
  const notGathered = ((entry.voice || {}).not_gathered_reason || '').trim();
  if (!viewed && !notGathered) {
    add(
      errors,
      `${prefix}.voice`,
      "Record the child's views (own words, Three Houses, a scale or a drawing) " +
        'or why they could not be gathered.',
    );
  } else if (viewed && notGathered) {
    add(
      errors,
      `${prefix}.voice.not_gathered_reason`,
      'Leave out why their views could not be gathered: their views are recorded.',
    );
  }
}

/** Every submit rule over a visit body and the files recorded with it: {path: [messages]}. */
export function submissionErrors(body, files, now = Date.now()) {
  const errors = {};
  if (!body.ended_at) add(errors, 'ended_at', 'Say when the visit ended.');
  checkTimes(
    errors,
    Date.parse(body.started_at),
    body.ended_at ? Date.parse(body.ended_at) : null,
    now,
  );
  if (!body.children.length) add(errors, 'children', 'Record at least one child.');
  body.children.forEach((entry, index) => {
    checkChild(errors, `children.${index}`, entry, hasViews(entry, files));
  });
  return errors;
}
