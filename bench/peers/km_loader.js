// Kissmetrics' own asynchronous loader snippet, as its documentation gives it (the peer
// for "the library alone": no mapping at all). KEY is replaced by the benchmark.
var _kmq = _kmq || [];
var _kmk = _kmk || 'KEY';
function _kms(u) {
  setTimeout(function () {
    var d = document, f = d.getElementsByTagName('script')[0], s = d.createElement('script');
    s.type = 'text/javascript'; s.async = true; s.src = u;
    f.parentNode.insertBefore(s, f);
  }, 1);
}
_kms('//i.kissmetrics.io/i.js');
_kms('//scripts.kissmetrics.io/' + _kmk + '.2.js');
