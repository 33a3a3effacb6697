// TEST DOUBLE of Tapstream's tapstream.js: records that it loaded and what _tsq held then.
(function (w) {
  w.__tapstreamDouble = {loadedAfterWindowLoad: document.readyState === 'complete', queue: (w._tsq || []).slice()};
})(window);
