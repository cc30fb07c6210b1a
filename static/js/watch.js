// Watch: play a gap's archive files in turn in one <video>, mark the gap's window on a bar under
// it, and say so plainly when the browser cannot decode the footage (H.265 in Chromium), instead
// of showing a black box. Loaded by templates/gaps/watch.html only.
(function () {
  "use strict";

  function start() {
    var section = document.getElementById("watch");
    var video = document.getElementById("player");
    if (!section || !video) return;
    var files = Array.prototype.slice.call(section.querySelectorAll(".play-file"));
    if (!files.length) return;
    var gapStart = parseFloat(section.dataset.gapStart);
    var gapEnd = parseFloat(section.dataset.gapEnd);
    var first = parseFloat(files[0].dataset.start);
    var lastFile = files[files.length - 1];
    var total = parseFloat(lastFile.dataset.start) + parseFloat(lastFile.dataset.seconds) - first;
    var current = 0;
    var nowPlaying = document.getElementById("now-playing");
    var playhead = document.getElementById("playhead");
    var span = document.getElementById("window-span");
    var message = document.getElementById("cannot-play");

    function share(t) {
      return total > 0 ? Math.min(Math.max((t - first) / total, 0), 1) * 100 : 0;
    }
    // The window's place across all files (CSSOM, which the CSP allows; no inline style).
    span.style.left = share(gapStart) + "%";
    span.style.width = Math.max(share(gapEnd) - share(gapStart), 0.5) + "%";

    function load(index, at, play) {
      current = index;
      var file = files[index];
      files.forEach(function (f) { f.removeAttribute("aria-current"); });
      file.setAttribute("aria-current", "true");
      nowPlaying.textContent = "File " + (index + 1) + " of " + files.length + ": " + file.dataset.name;
      video.dataset.file = String(index);
      if (video.getAttribute("src").split("#")[0] !== file.dataset.src) {
        video.src = file.dataset.src + "#t=" + at;
      } else {
        video.currentTime = at;
      }
      if (play) {
        var started = video.play();
        if (started && started.catch) started.catch(function () {});
      }
    }

    function cannotPlay() {
      message.hidden = false;
      video.classList.add("cannot-play");
      section.classList.add("undecodable"); // no use for play controls: the list below stays
    }

    video.addEventListener("ended", function () {
      if (current + 1 < files.length) load(current + 1, 0, true);
    });
    video.addEventListener("timeupdate", function () {
      var t = parseFloat(files[current].dataset.start) + video.currentTime;
      playhead.style.left = share(t) + "%";
    });
    video.addEventListener("error", function () {
      var err = video.error;
      if (err && (err.code === err.MEDIA_ERR_SRC_NOT_SUPPORTED || err.code === err.MEDIA_ERR_DECODE)) {
        cannotPlay();
      }
    });
    // A video track the browser cannot decode can still "play" its audio: no picture at all.
    video.addEventListener("loadeddata", function () {
      if (video.videoWidth === 0) cannotPlay();
    });
    files.forEach(function (button, index) {
      button.addEventListener("click", function () {
        load(index, parseFloat(button.dataset.offset) || 0, true);
      });
    });
    document.getElementById("to-gap-start").addEventListener("click", function () {
      load(0, parseFloat(files[0].dataset.offset) || 0, true);
    });
    document.getElementById("prev-file").addEventListener("click", function () {
      load(Math.max(current - 1, 0), 0, true);
    });
    document.getElementById("next-file").addEventListener("click", function () {
      load(Math.min(current + 1, files.length - 1), 0, true);
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
