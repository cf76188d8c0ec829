// A grpc-js greet.Greeter server on 127.0.0.1:<port> (0 = any free port), for outbound tests:
// SayHello answers "Hello <name> from grpc-js" and echoes the request's x-* metadata as
// response metadata; Fail answers NOT_FOUND. Prints "listening <port>" once bound.
// Usage: node server.js [port]
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const definition = loader.loadSync(path.join(__dirname, 'greet.proto'), { keepCase: true });
const greet = grpc.loadPackageDefinition(definition).greet;
const server = new grpc.Server();
server.addService(greet.Greeter.service, {
  SayHello(call, callback) {
    const echo = new grpc.Metadata();
    for (const [key, value] of Object.entries(call.metadata.getMap())) {
      if (key.startsWith('x-')) {
        echo.add(key, String(value));
      }
    }
    call.sendMetadata(echo);
    callback(null, { message: `Hello ${call.request.name} from grpc-js` });
  },
  Fail(call, callback) {
    callback({ code: grpc.status.NOT_FOUND, details: 'no such greeting (grpc-js)' });
  },
});

server.bindAsync(`127.0.0.1:${process.argv[2] || 0}`, grpc.ServerCredentials.createInsecure(), (error, port) => {
  if (error) {
    console.error(error.message);
    process.exit(1);
  }
  console.log(`listening ${port}`);
});

for (const signal of ['SIGTERM', 'SIGINT']) {
  process.on(signal, () => server.tryShutdown(() => process.exit(0)));
}
