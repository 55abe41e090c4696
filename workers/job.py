"""The task body every worker runs, embedded or under Celery, as named steps:

``claim → load_audio → detect_speech → transcribe_windows → tell_speakers → redact →
meter_cost → persist_segments → finish_recording`` (``results.finalize.finalize_recording``),
with ``handle_failure`` for any error.

``prepare`` (CPU: fetch, decode, VAD) and ``perform`` (the model) are separate so a runner
can overlap the next job's preparation with the current job's inference.
"""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import cast

import numpy as np

from callscribe.errors import (
    JobTimeoutError,
    LeaseLostError,
    ServiceUnavailableError,
    one_line,
    outage,
)
from callscribe.failures import classify
from callscribe.models import JobStatus
from callscribe.models.base import utcnow
from callscribe.models.metering import Usage
from callscribe.settings import SegmentSection, Settings

from .analytics.activity import ChannelActivity, activity_from_loud, clear_spans, loud_spans
from .audio.decode import CUT_SEARCH_S, SAMPLE_RATE, DecodedAudio, cut_point, decode, is_dual_mono
from .audio.vad import clip_audio, pack_windows, speech_spans, unpadded
from .protection.step import redact_windows
from .records import PackedWindow, RedactionSpan, Segment, StoredWindow, segment_text
from .results import finalize, store
from .runtime.context import Heartbeat, WorkerContext
from .runtime.device import price_per_device_hour
from .runtime.isolation import Slot
from .speakers.diarize import Voices, diarize_channel, unlabelled
from .transcription.batching import BatchedResult
from .transcription.decoding import Decoded
from .transcription.echo import suppress_echo, without_echoed_words
from .transcription.engine import WindowInput, compute_type_for
from .transcription.fusion import Clip, fuse, split
from .transcription.recovery import piece_audio, skipped_pieces, with_piece
from .transcription.segments import split_segments, trim_to_sound

log = logging.getLogger(__name__)
#: A non-last job that decodes this much less than it asked for reached the stream's end.
STREAM_END_SLACK_S = 0.1


@dataclass(frozen=True, kw_only=True)
class ChannelWork:
    """The part of one channel this job owns, and its windows (absolute times) with the
    audio the model reads for each."""

    channel: int
    speaker: str
    cut_start_s: float
    cut_end_s: float
    windows: tuple[tuple[PackedWindow, np.ndarray], ...]
    loud: tuple[tuple[float, float], ...] = ()
    """Where the channel is clearly above its noise floor (``workers.analytics.activity``)."""
    speech: tuple[tuple[float, float], ...] | None = None
    """Where the VAD model heard speech, unpadded (``vad.unpadded``); None: not known."""
    clear: tuple[tuple[float, float], ...] | None = None
    """Where the channel is clearly above its floor (``workers.analytics.activity.clear_spans``)."""


@dataclass(frozen=True, kw_only=True)
class PreparedJob:
    """A claimed job whose audio is decoded and cut into windows, ready for the model."""

    spec: store.JobSpec
    settings: Settings
    """The worker's settings with the job's source options over them."""
    channels: tuple[ChannelWork, ...]
    speech_seconds: float
    prepare_started: float
    heartbeat: Heartbeat
    slot: Slot
    audio_s: float

    def finish(self) -> None:
        """Stop renewing the lease and leave the process's gate."""
        self.heartbeat.stop()
        self.slot.release()


# -- steps --------------------------------------------------------------------------------


def load_audio(ctx: WorkerContext, spec: store.JobSpec, workdir: Path) -> DecodedAudio:
    """Fetch the object and decode this job's span plus the cut-search margins. The last
    job decodes to the end of the stream, so audio past what the header claimed is
    transcribed too; a later job whose span lies past the real end gets no samples."""
    path = ctx.source(spec.source_uri).fetch(spec.key, workdir, spec.uri)
    start = max(0.0, spec.start_s - CUT_SEARCH_S) if spec.seq > 0 else 0.0
    end = spec.duration_s if spec.is_last else min(spec.duration_s, spec.end_s + CUT_SEARCH_S)
    duration = None if spec.is_last else end - start
    audio = decode(path, spec.channels, start, duration, spec.codec, allow_empty=spec.seq > 0)
    if len(audio.channels) == 2 and is_dual_mono(*audio.channels):
        return DecodedAudio(audio.channels[:1], audio.offset_s)
    if len(audio.channels) == 2:
        channels, found = suppress_echo(audio.channels, SAMPLE_RATE)
        for channel, echo in enumerate(found):
            if echo is not None:
                log.info(
                    "job %s channel %s: echo of the other leg %.0f ms late, %.0f dB "
                    "down; taken out",
                    spec.job_id,
                    channel,
                    1000 * echo.delay_s,
                    20 * np.log10(max(echo.gain, 1e-6)),
                )
        audio = DecodedAudio(channels, audio.offset_s)
    return audio


def end_of_stream(spec: store.JobSpec, audio: DecodedAudio) -> float | None:
    """Where the recording's audio ends, if this job's decoding reached it: always for the
    last job; for another, when it got less than it asked for (the header claimed more)."""
    decoded_end = audio.offset_s + audio.duration_s
    if spec.is_last:
        return decoded_end
    asked_end = min(spec.duration_s, spec.end_s + CUT_SEARCH_S)
    return decoded_end if decoded_end < asked_end - STREAM_END_SLACK_S else None


def _cut(audio: DecodedAudio, channel: int, boundary: float, duration: float) -> float:
    lo, hi = max(0.0, boundary - CUT_SEARCH_S), min(duration, boundary + CUT_SEARCH_S)
    return cut_point(audio.slice(channel, lo, hi), lo, boundary)


def job_settings(ctx: WorkerContext, spec: store.JobSpec) -> Settings:
    """What this job runs with: the worker's settings, its source's options over them."""
    return ctx.settings.for_source(spec.options)


def detect_speech(
    settings: Settings, spec: store.JobSpec, audio: DecodedAudio
) -> list[ChannelWork]:
    """Per channel: move the job's edges into silences (never past the end of the audio),
    run VAD, pack speech into windows of at most 30 s of speech."""
    works = []
    eof = end_of_stream(spec, audio)
    stop = eof if eof is not None else float("inf")
    for channel in range(len(audio.channels)):
        lo = _cut(audio, channel, spec.start_s, spec.duration_s) if spec.seq > 0 else 0.0
        hi = stop if spec.is_last else _cut(audio, channel, spec.end_s, spec.duration_s)
        lo, hi = min(lo, stop), min(hi, stop)
        samples = audio.slice(channel, lo, hi)
        heard = speech_spans(samples, settings.vad)
        windows = pack_windows(heard, settings.vad)
        absolute = tuple((w.shifted(lo), clip_audio(w, samples)) for w in windows)
        speaker = settings.segments.speaker_for(channel, len(audio.channels))
        speech = tuple((lo + a, lo + b) for a, b in unpadded(heard, settings.vad))
        works.append(
            ChannelWork(
                channel=channel,
                speaker=speaker,
                cut_start_s=lo,
                cut_end_s=hi,
                windows=absolute,
                loud=loud_spans(samples, lo),
                speech=speech,
                clear=clear_spans(samples, lo),
            )
        )
    return works


def transcribe_windows(ctx: WorkerContext, job: PreparedJob) -> tuple[list[StoredWindow], float]:
    """Hand every window of the job (all channels; short ones fused into shared clips,
    ``workers.transcription.fusion``) to the process's batcher, which runs them in model batches
    shared
    with other jobs; cut each window's words into segments with times in the recording.
    Returns the windows and the job's share of device seconds."""
    clips = job_clips(ctx, job)
    options = job.settings.decode
    inputs = [
        WindowInput(n, clip.audio, group=clip.parts[0].key[0], options=options)
        for n, clip in enumerate(clips)
    ]
    result = _wait_for_model(ctx, job, inputs)
    by_key = {
        key: (decoded, found)
        for found in result.windows
        for key, decoded in split(clips[cast(int, found.key)], found.decoded).items()
    }
    recovered, again_s = recover_skipped(ctx, job, {k: d for k, (d, _f) in by_key.items()})
    rule = job.settings.segments
    stored = []
    for work in job.channels:
        for i, (window, audio) in enumerate(work.windows):
            found = by_key[(work.channel, i)][1]
            mine = recovered[(work.channel, i)]
            decoded = replace(mine, words=trim_to_sound(mine.words, audio))
            segments = _segments(work, window, decoded, found.language, rule)
            stored.append(
                StoredWindow(
                    channel=work.channel,
                    window=window,
                    language=found.language,
                    segments=segments,
                    temperature=mine.temperature,
                    language_probability=found.language_probability,
                )
            )
    return without_echoed_words(stored), result.device_s + again_s


def recover_skipped(
    ctx: WorkerContext, job: PreparedJob, decoded: dict[tuple[int, int], Decoded]
) -> tuple[dict[tuple[int, int], Decoded], float]:
    """Each window's decode, with the pieces it seems to have skipped decoded again alone
    (``workers.transcription.recovery``), and the device seconds that took."""
    if not job.settings.decode.reread_skipped:
        return decoded, 0.0
    suspects = [
        ((work.channel, i), piece, piece_audio(audio, piece))
        for work in job.channels
        for i, (window, audio) in enumerate(work.windows)
        for piece in skipped_pieces(window, decoded[(work.channel, i)])
    ]
    if not suspects:
        return decoded, 0.0
    options = job.settings.decode
    inputs = [
        WindowInput(n, audio, group=key[0], options=options)
        for n, (key, _piece, audio) in enumerate(suspects)
    ]
    result = _wait_for_model(ctx, job, inputs)
    out = dict(decoded)
    for found in result.windows:
        key, piece, _audio = suspects[cast(int, found.key)]
        out[key] = with_piece(out[key], piece, found.decoded, options)
    log.debug("job %s: %d skipped pieces decoded again", job.spec.job_id, len(suspects))
    return out, result.device_s


def job_clips(ctx: WorkerContext, job: PreparedJob) -> list[Clip[tuple[int, int]]]:
    """What the model reads for this job: its windows, the short ones fused (when
    ``vad.fuse`` is on and the language is known), keyed ``(channel, index)``."""
    windows = [
        ((c.channel, i), audio)
        for c in job.channels
        for i, (_window, audio) in enumerate(c.windows)
    ]
    settings = job.settings
    known = (
        settings.decode.language is not None
        or not ctx.engine(settings.model.name).model.model.is_multilingual
    )
    if settings.vad.fuse and known:
        return fuse(windows, settings.vad.window_max_s)
    return [Clip.single(key, audio) for key, audio in windows]


def _segments(
    work: ChannelWork, window: PackedWindow, decoded: Decoded, language: str, rule: SegmentSection
) -> tuple[Segment, ...]:
    return tuple(
        Segment(
            channel=work.channel,
            speaker=work.speaker,
            start=words[0].start,
            end=words[-1].end,
            text=segment_text(words),
            avg_logprob=decoded.avg_logprob,
            no_speech_prob=decoded.no_speech_prob,
            compression_ratio=decoded.compression_ratio,
            language=language,
            words=tuple(words),
        )
        for words in split_segments(window, decoded, rule)
        if segment_text(words)
    )


def _wait_for_model(
    ctx: WorkerContext, job: PreparedJob, inputs: list[WindowInput]
) -> BatchedResult:
    """Submit and wait, up to the job's soft time limit (enforced here because a threads
    pool has no Celery time limits)."""
    future = ctx.batcher(job.settings.model.name).submit(inputs, job.prepare_started)
    left = ctx.settings.jobs.soft_time_limit_s - (time.perf_counter() - job.prepare_started)
    try:
        return future.result(timeout=max(0.0, left))
    except TimeoutError as exc:
        future.cancel()  # its windows not yet in a batch are dropped
        raise _past_soft_limit(ctx) from exc


def _past_soft_limit(ctx: WorkerContext) -> JobTimeoutError:
    return JobTimeoutError(
        f"job ran past its soft time limit of {ctx.settings.jobs.soft_time_limit_s} s"
    )


def check_soft_limit(ctx: WorkerContext, began: float) -> None:
    """Between steps: stop a job already past its soft time limit (a threads pool has no
    Celery time limits; on prefork Celery's own limit usually fires first)."""
    if time.perf_counter() - began > ctx.settings.jobs.soft_time_limit_s:
        raise _past_soft_limit(ctx)


def meter_cost(ctx: WorkerContext, job: PreparedJob, device_s: float) -> Usage:
    """What the job used: its audio, its speech, and its share of device time (the model
    batches it was in, plus device idle time while it was being prepared), at the price in
    force now."""
    settings, device = job.settings, ctx.device
    return Usage(
        job_id=job.spec.job_id,
        source_id=job.spec.source_id,
        model=settings.model.name,
        device=device,
        worker=ctx.worker_id,
        audio_s=job.audio_s,
        speech_s=job.speech_seconds,
        device_s=device_s,
        finished_at=utcnow(),
        price=price_per_device_hour(settings.cost, device),
    )


def tell_speakers(
    ctx: WorkerContext, job: PreparedJob, windows: list[StoredWindow]
) -> tuple[list[StoredWindow], Voices | None]:
    """On a one-channel recording (mono, or dual-mono read as one): each segment split where
    the voice changes and named by voice (``workers.speakers``); ``unknown`` when the
    speaker model is unavailable. Stereo calls keep their channels' labels."""
    config = job.settings.diarization
    if not config.enabled or len(job.channels) != 1:
        return windows, None
    encoder = ctx.speaker_encoder()
    if encoder is None:
        return unlabelled(windows), None
    labels = job.settings.segments.speaker_labels
    return diarize_channel(windows, job.channels[0].windows, encoder, config, labels)


def redact(
    ctx: WorkerContext, job: PreparedJob, windows: list[StoredWindow]
) -> tuple[list[StoredWindow], list[RedactionSpan]]:
    """Replace PII with typed tags before anything is written, as the job's source is set
    to (its own ``redaction`` option, else ``redaction.by_source``, else ``redaction.mode``)."""
    if job.settings.redaction.mode_for(job.spec.source_uri) == "off":
        return windows, []
    return redact_windows(windows, job.settings.redaction.patterns)


def measure_activity(job: PreparedJob, windows: list[StoredWindow]) -> dict[int, ChannelActivity]:
    """Per channel: who talks when and where there is sound but no talk (hold music), from
    the channel's loud stretches and the words transcribed on it
    (``workers.analytics.activity``)."""
    words: dict[int, list[tuple[float, float]]] = {c.channel: [] for c in job.channels}
    for window in windows:
        words[window.channel] += [(w.start, w.end) for s in window.segments for w in s.words]
    return {
        c.channel: activity_from_loud(c.loud, words[c.channel], speech=c.speech, clear=c.clear)
        for c in job.channels
    }


def persist_segments(
    ctx: WorkerContext,
    job: PreparedJob,
    windows: list[StoredWindow],
    usage: Usage,
    spans: list[RedactionSpan] | None = None,
    activity: dict[int, ChannelActivity] | None = None,
    voices: Voices | None = None,
) -> bool:
    """Write the job's windows, segments, redaction spans and usage in one transaction;
    True if the recording is complete."""
    cut_start = min(c.cut_start_s for c in job.channels)
    cut_end = max(c.cut_end_s for c in job.channels)
    result = store.JobResult(
        windows=tuple(windows),
        cut_start_s=cut_start,
        cut_end_s=cut_end,
        usage=usage,
        compute_type=compute_type_for(job.settings.model),
        batch_size=ctx.engine(job.settings.model.name).batch_size,
        redactions=tuple(spans or ()),
        activity=activity,
        speakers=None if voices is None else voices.to_json(),
    )
    return store.store_result(ctx.factory, job.spec, ctx.worker_id, result)


# -- the task -----------------------------------------------------------------------------


def claim(ctx: WorkerContext, job_id: int) -> tuple[store.JobSpec, Slot] | None:
    """Take the job and a place in this process's gate, in that order of waiting: a job
    whose last worker was lost first waits until it can run alone, holding no claim, so a
    crash while it runs costs no other job an attempt (``workers.runtime.isolation``)."""
    slot: Slot | None = None
    try:
        slot = ctx.gate.enter(solo=store.is_suspect(ctx.factory, job_id))
        spec = store.claim_job(
            ctx.factory,
            job_id,
            ctx.worker_id,
            ctx.settings.jobs.lease_s,
            ctx.settings.jobs.max_attempts,
        )
    except Exception as exc:
        if slot is not None:
            slot.release()
        reason = outage(exc, only="database")
        if reason is not None:  # the job stays queued; the entry point hands its message back
            raise ServiceUnavailableError(reason) from exc
        log.warning("job %s: cannot claim it now: %s", job_id, one_line(exc, 300))
        return None  # it stays queued: the healing pass sends it again
    ctx.backoff.succeeded()
    if spec is None or slot is None:
        if slot is not None:
            slot.release()
        return None
    if slot.solo:
        log.warning(
            "job %s (%s): its last worker was lost; running it alone", spec.job_id, spec.key
        )
    return spec, slot


def prepare(ctx: WorkerContext, job_id: int) -> PreparedJob | None:
    """Claim the job and get its audio ready. None when there is nothing to do (already
    done, taken by another worker) or when it failed (recorded in the database)."""
    prepared = prepare_or_fail(ctx, job_id)
    return prepared if isinstance(prepared, PreparedJob) else None


def prepare_or_fail(ctx: WorkerContext, job_id: int) -> PreparedJob | JobStatus | None:
    """:func:`prepare`, telling a failure while preparing (the job's new status, as
    ``handle_failure`` recorded it) from nothing to do (None)."""
    claimed = claim(ctx, job_id)
    if claimed is None:
        return None
    spec, slot = claimed
    beat = Heartbeat(ctx, spec.job_id, spec.attempts).start()
    began = time.perf_counter()
    try:
        settings = job_settings(ctx, spec)
        with (
            ctx.batcher(settings.model.name).preparing(),
            tempfile.TemporaryDirectory(prefix="callscribe-") as tmp,
        ):
            audio = load_audio(ctx, spec, Path(tmp))
            check_soft_limit(ctx, began)
            works = detect_speech(settings, spec, audio)
            check_soft_limit(ctx, began)
    except BaseException as exc:
        beat.stop()
        slot.release()
        status = handle_failure(ctx, spec, exc)
        if not isinstance(exc, Exception):
            raise  # SystemExit, KeyboardInterrupt, Celery's hard limit: recorded, then up
        return status
    speech = sum(w.speech_s for c in works for w, _audio in c.windows)
    return PreparedJob(
        spec=spec,
        settings=settings,
        channels=tuple(works),
        speech_seconds=speech,
        prepare_started=began,
        heartbeat=beat,
        slot=slot,
        audio_s=owned_audio_seconds(spec, end_of_stream(spec, audio)),
    )


def owned_audio_seconds(spec: store.JobSpec, eof: float | None) -> float:
    """The audio this job accounts for: its nominal span, cut short where the stream ended,
    and for the last job up to the stream's end (past the header's figure if need be). The
    jobs of a recording sum to the audio that exists."""
    if spec.is_last and eof is not None:
        return max(0.0, eof - spec.start_s)
    end = spec.end_s if eof is None else min(spec.end_s, eof)
    return max(0.0, end - spec.start_s)


def perform(ctx: WorkerContext, job: PreparedJob) -> JobStatus | None:
    """Transcribe a prepared job, store it, and finalize its recording when complete."""
    try:
        windows, device_s = transcribe_windows(ctx, job)
        windows, voices = tell_speakers(ctx, job, windows)
        activity = measure_activity(job, windows)
        windows, spans = redact(ctx, job, windows)
        complete = persist_segments(
            ctx, job, windows, meter_cost(ctx, job, device_s), spans, activity, voices
        )
    except LeaseLostError:
        log.warning("job %s: lease lost, results dropped", job.spec.job_id)
        return None
    except BaseException as exc:
        status = handle_failure(ctx, job.spec, exc)
        if not isinstance(exc, Exception):
            raise
        return status
    finally:
        job.finish()
    if complete:
        finish_recording(ctx, job.spec.recording_id)
    return JobStatus.DONE


def finish_recording(ctx: WorkerContext, recording_id: int) -> None:
    """Finalize the recording whose last job this was. Its results are stored, so when the
    exports cannot be written it is ``export_failed`` and the healing pass retries them;
    when even that cannot be recorded (the database away), the pass finds it unfinished."""
    try:
        finalize.finalize_recording(ctx.settings, ctx.factory, recording_id)
        return
    except Exception as exc:
        failure: BaseException = exc
    try:
        if outage(failure, only="database") is None:
            finalize.export_failed(ctx.settings, ctx.factory, recording_id, failure)
            return
    except Exception as exc:
        failure = exc
    log.warning(
        "recording %s: cannot finalize it now (%s); the healing pass will",
        recording_id,
        outage(failure) or one_line(failure, 300),
    )


def handle_failure(ctx: WorkerContext, spec: store.JobSpec, exc: BaseException) -> JobStatus | None:
    """Record the error as ``callscribe.failures.classify`` decides: re-queue, or fail the
    job and its recording. A re-queued job goes to ``ctx.reschedule`` with the outcome's
    delay (0 for a job handed back). The pool's own soft-limit exception (Celery's, on
    prefork) means what ``JobTimeoutError`` means on the threads pool and in the embedded
    run."""
    if isinstance(exc, ctx.soft_limit_errors):
        exc = _past_soft_limit(ctx)
    outcome = classify(exc, spec.attempts, ctx.settings.jobs)
    if not outcome.hand_back:
        log.warning("job %s (%s) failed: %s", spec.job_id, spec.key, one_line(exc))
        try:
            recorded = store.record_failure(ctx.factory, spec, ctx.worker_id, outcome)
        except Exception as again:  # the database went away while recording it
            outcome = classify(again, spec.attempts, ctx.settings.jobs)
            if not outcome.hand_back:
                raise
        else:
            if recorded is None:
                return None
            if not recorded.retry:
                return JobStatus.FAILED
            ctx.reschedule(spec.job_id, recorded.delay_s)
            return JobStatus.QUEUED
    status = hand_back(ctx, spec, outcome.reason)
    if status == JobStatus.QUEUED:
        ctx.reschedule(spec.job_id, 0.0)
    return status


#: How long a job the database went away under waits for it before its lease is left to
#: expire (the healing pass then re-queues it).
HAND_BACK_WAIT_S = 600.0


def hand_back(ctx: WorkerContext, spec: store.JobSpec, reason: str) -> JobStatus | None:
    """The database went away while the job ran: one warning, then give the job back to the
    queue without spending its attempt once the database answers again (waiting, with the
    process's backoff, up to ``HAND_BACK_WAIT_S``, within the hard time limit). ``reason``:
    ``handed back: the database is unreachable: …``."""
    log.warning("job %s (%s): %s", spec.job_id, spec.key, reason)
    wait_s = min(HAND_BACK_WAIT_S, ctx.settings.queue.time_limit_s / 2)
    handed = ctx.backoff.until_back(
        lambda: store.hand_back(ctx.factory, spec, ctx.worker_id, reason), wait_s
    )
    if handed is None:
        log.warning(
            "job %s: the database is still unreachable after %.0f s; its lease will "
            "expire and the healing pass re-queues it",
            spec.job_id,
            wait_s,
        )
        return None
    return JobStatus.QUEUED if handed else None


def run_job(ctx: WorkerContext, job_id: int) -> JobStatus | None:
    """The whole task for one job id (what ``transcribe_job(job_id)`` runs): the job's new
    status (``queued`` again after a retryable failure), or None when there was nothing to
    do."""
    job = prepare_or_fail(ctx, job_id)
    if not isinstance(job, PreparedJob):
        return job
    return perform(ctx, job)
