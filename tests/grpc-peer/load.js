// Offers unary greet.Greeter/SayHello calls open-loop at a fixed rate over one h2c channel
// (call i is started at start + i/rate, whatever the answers do) and prints one JSON line:
//   {"sent":N,"statuses":{"0":n,"8":n},"messages":{"8":"<first message seen>"},"maxLagMs":x}
// Usage: node load.js <host:port> <rate per second> <seconds> [key=value metadata...]
'use strict';
const { connect, metadataFrom } = require('./greeter');

const [address, rateText, secondsText, ...pairs] = process.argv.slice(2);
const rate = Number(rateText);
const total = Math.round(rate * Number(secondsText));
if (!address || !(rate > 0) || !(total > 0)) {
  console.error('usage: node load.js <host:port> <rate> <seconds> [key=value...]');
  process.exit(2);
}

const client = connect(address);
const metadata = metadataFrom(pairs);

const statuses = {};
const messages = {};
let sent = 0;
let done = 0;
let maxLagMs = 0;

function finish(code, message) {
  statuses[code] = (statuses[code] || 0) + 1;
  if (message !== undefined && messages[code] === undefined) {
    messages[code] = message;
  }
  done++;
  if (done === total) {
    console.log(JSON.stringify({ sent, statuses, messages, maxLagMs }));
    client.close();
  }
}

// Connect first, so that the channel's start-up is not part of the offered load.
client.waitForReady(Date.now() + 10000, (error) => {
  if (error) {
    console.log(JSON.stringify({ sent: 0, error: String(error) }));
    process.exit(1);
  }
  const start = performance.now();
  const tick = () => {
    const now = performance.now();
    const due = Math.min(total, Math.floor(((now - start) * rate) / 1000) + 1);
    while (sent < due) {
      maxLagMs = Math.max(maxLagMs, now - (start + (sent * 1000) / rate));
      sent++;
      client.SayHello({ name: 'load' }, metadata, { deadline: Date.now() + 30000 }, (err, reply) => {
        if (err) {
          finish(err.code, err.details);
        } else {
          finish(0, undefined);
        }
      });
    }
    if (sent < total) {
      setTimeout(tick, 1);
    }
  };
  tick();
});
