// The call page: a click on a word plays the call from that word; while it plays, the
// word being said is highlighted. Words carry data-start / data-end in seconds.
(function () {
  "use strict";
  const audio = document.getElementById("player");
  const transcript = document.getElementById("transcript");
  if (!transcript) return;
  const words = Array.from(transcript.querySelectorAll(".w[data-start]"))
    .map((el) => ({ el, start: parseFloat(el.dataset.start), end: parseFloat(el.dataset.end) }))
    .sort((a, b) => a.start - b.start);
  let current = null;

  function wordAt(t) {
    let lo = 0, hi = words.length - 1, found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (words[mid].start <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    if (found < 0) return null;
    // the latest word started by t that has not ended (another party's may overlap)
    for (let i = found; i >= 0 && i > found - 8; i--) {
      if (words[i].end >= t) return words[i];
    }
    return null;
  }

  function highlight() {
    if (!audio) return;
    const w = wordAt(audio.currentTime);
    if (w === current) return;
    if (current) current.el.classList.remove("playing");
    current = w;
    if (w) {
      w.el.classList.add("playing");
      const box = w.el.getBoundingClientRect();
      if (box.top < 0 || box.bottom > window.innerHeight) w.el.scrollIntoView({ block: "center" });
    }
  }

  function seek(t) {
    if (!audio) return;
    audio.currentTime = t;
    highlight();
  }

  transcript.addEventListener("click", (event) => {
    const el = event.target.closest(".w[data-start]");
    if (!el || !audio) return;
    seek(parseFloat(el.dataset.start));
    const playing = audio.play();
    if (playing && playing.catch) playing.catch(() => {});
  });

  if (audio) {
    audio.addEventListener("timeupdate", highlight);
    audio.addEventListener("seeked", highlight);
    let frame = 0;
    const tick = () => { highlight(); frame = requestAnimationFrame(tick); };
    audio.addEventListener("play", () => { cancelAnimationFrame(frame); frame = requestAnimationFrame(tick); });
    audio.addEventListener("pause", () => cancelAnimationFrame(frame));
    const at = parseFloat(audio.dataset.startAt);
    if (!isNaN(at) && at > 0) {
      const go = () => seek(at);
      if (audio.readyState >= 1) go(); else audio.addEventListener("loadedmetadata", go, { once: true });
      const w = wordAt(at) || words.find((x) => x.start >= at);
      if (w) w.el.scrollIntoView({ block: "center" });
    }
  }
})();
