// Evidence recorded on the tablet: the child's drawing (signature_pad on a canvas, by finger or
// pen through pointer events), photos from the camera, and an audio recording (MediaRecorder).
// Each is kept in IndexedDB as a Blob until the server holds it.
/* global SignaturePad */
import { db, filesOf } from './store.js';
import { esc } from './html.js';

const AUDIO_TYPES = ['audio/mp4', 'audio/ogg;codecs=opus', 'audio/ogg'];
const urls = [];

/** Blob URLs made for previews; revoked when the screen changes. */
export function releasePreviews() {
  urls.splice(0).forEach((url) => URL.revokeObjectURL(url));
}

function preview(blob) {
  const url = URL.createObjectURL(blob);
  urls.push(url);
  return url;
}

async function keepFile(visit, childId, kind, blob, filename) {
  const id = crypto.randomUUID();
  await db.files.put({
    id, visit_id: visit.id, child_id: childId, kind, blob, filename,
    content_type: (blob.type || 'application/octet-stream').split(';')[0],
    uploaded: false, created_at: new Date().toISOString(),
  });
  await db.visits.update(visit.id, { dirty: true, updated_at: new Date().toISOString() });
  return id;
}

const KIND_NAMES = { drawing: 'Drawing', photo: 'Photo', audio: 'Recording' };

function fileItem(file, index) {
  const name = `${KIND_NAMES[file.kind]} ${index + 1}`;
  let shown;
  if (!file.blob && !file.uploaded) shown = '';
  else if (!file.blob) shown = `<p class="govuk-body-s">${esc(name)}: sent to the server.</p>`;
  else if (file.kind === 'audio') shown = `<audio controls src="${preview(file.blob)}" aria-label="${esc(name)}"></audio>`;
  else shown = `<img class="app-thumbnail" src="${preview(file.blob)}" alt="${esc(name)}, saved on this tablet">`;
  if (file.error) shown += `<p class="govuk-error-message"><span class="govuk-visually-hidden">Error:</span> The service did not accept ${esc(name.toLowerCase())}: ${esc(file.error)} Remove it to submit the visit.</p>`;
  const remove = file.uploaded ? '' : `<button type="button" class="govuk-button govuk-button--secondary app-small-button" data-remove="${esc(file.id)}">Remove ${esc(name.toLowerCase())}</button>`;
  return `<li class="app-file">${shown}${remove}</li>`;
}

/** The list of a child's files of one kind, with remove buttons for those not yet sent. */
export async function renderFiles(container, visit, childId, kind) {
  releasePreviews();
  const files = (await filesOf(visit.id)).filter((file) => file.child_id === childId && file.kind === kind);
  container.innerHTML = files.length
    ? `<ul class="govuk-list app-files">${files.map(fileItem).join('')}</ul>`
    : `<p class="govuk-body-s">None yet.</p>`;
  container.querySelectorAll('[data-remove]').forEach((button) => {
    button.addEventListener('click', async () => {
      await db.files.delete(button.dataset.remove);
      await db.visits.update(visit.id, { dirty: true });
      await renderFiles(container, visit, childId, kind);
      container.dispatchEvent(new CustomEvent('files-changed', { bubbles: true }));
    });
  });
}

/** The drawing canvas: the child draws with a finger; "Save drawing" keeps it as a PNG. */
export function drawingPad(root, visit, childId, onSaved) {
  const canvas = root.querySelector('canvas');
  const pad = new SignaturePad(canvas, { backgroundColor: 'rgb(255, 255, 255)', penColor: '#0b0c0c', minWidth: 1.5, maxWidth: 4 });
  const fit = () => {
    const ratio = Math.max(window.devicePixelRatio || 1, 1);
    const drawn = pad.toData();
    canvas.width = canvas.offsetWidth * ratio;
    canvas.height = canvas.offsetHeight * ratio;
    canvas.getContext('2d').scale(ratio, ratio);
    pad.clear();
    pad.fromData(drawn);
  };
  fit();
  const observer = new ResizeObserver(() => fit());
  observer.observe(canvas);
  root.querySelectorAll('[data-pen]').forEach((button) => {
    button.addEventListener('click', () => {
      pad.penColor = button.dataset.pen;
      root.querySelectorAll('[data-pen]').forEach((other) => other.setAttribute('aria-pressed', String(other === button)));
    });
  });
  root.querySelector('[data-clear]').addEventListener('click', () => pad.clear());
  root.querySelector('[data-save-drawing]').addEventListener('click', async () => {
    const status = root.querySelector('[data-drawing-status]');
    if (pad.isEmpty()) {
      status.textContent = 'The canvas is empty: draw something first.';
      return;
    }
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/png'));
    await keepFile(visit, childId, 'drawing', blob, 'drawing.png');
    pad.clear();
    status.textContent = 'Drawing saved on this tablet.';
    onSaved();
  });
  return () => observer.disconnect();
}

/** Photos from the camera (or the tablet's pictures). */
export function photoInput(input, visit, childId, onSaved) {
  input.addEventListener('change', async () => {
    for (const file of input.files) {
      await keepFile(visit, childId, 'photo', file, file.name || 'photo.jpg');
    }
    input.value = '';
    onSaved();
  });
}

/** An audio recording of the child, when the tablet can record in a format the service takes. */
export function audioRecorder(root, visit, childId, onSaved) {
  const start = root.querySelector('[data-record]');
  const stop = root.querySelector('[data-stop]');
  const status = root.querySelector('[data-audio-status]');
  const type = window.MediaRecorder && AUDIO_TYPES.find((candidate) => MediaRecorder.isTypeSupported(candidate));
  if (!type || !navigator.mediaDevices) {
    start.disabled = true;
    status.textContent = 'This tablet cannot record audio in a format the service keeps.';
    return;
  }
  let recorder = null;
  start.addEventListener('click', async () => {
    try {
      const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      const chunks = [];
      recorder = new MediaRecorder(stream, { mimeType: type });
      recorder.addEventListener('dataavailable', (event) => chunks.push(event.data));
      recorder.addEventListener('stop', async () => {
        stream.getTracks().forEach((track) => track.stop());
        const blob = new Blob(chunks, { type: type.split(';')[0] });
        await keepFile(visit, childId, 'audio', blob, type.startsWith('audio/mp4') ? 'recording.m4a' : 'recording.ogg');
        status.textContent = 'Recording saved on this tablet.';
        onSaved();
      });
      recorder.start();
      start.disabled = true;
      stop.disabled = false;
      status.textContent = 'Recording…';
    } catch (error) {
      status.textContent = `Could not record: ${error.message}`;
    }
  });
  stop.addEventListener('click', () => {
    if (recorder && recorder.state === 'recording') recorder.stop();
    start.disabled = false;
    stop.disabled = true;
  });
}
