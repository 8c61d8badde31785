// Field visit form: fill latitude and longitude from the phone's location (the agent may also type them).
(function () {
  var button = document.getElementById('locate');
  if (!button) { return; }
  button.addEventListener('click', function () {
    var status = document.getElementById('locate-status');
    if (!navigator.geolocation) { status.textContent = 'This browser cannot tell its location: type it.'; return; }
    status.textContent = 'Locating…';
    navigator.geolocation.getCurrentPosition(function (pos) {
      document.getElementById('latitude').value = pos.coords.latitude.toFixed(6);
      document.getElementById('longitude').value = pos.coords.longitude.toFixed(6);
      status.textContent = 'Located (±' + Math.round(pos.coords.accuracy) + ' m)';
    }, function (err) { status.textContent = 'No location: ' + err.message; }, {enableHighAccuracy: true, timeout: 15000});
  });
}());
