// Calls one unary greet.Greeter method over h2c and prints one line that tests assert on:
//   reply status=0 message=<reply message>
//   error status=<grpc code> message=<grpc message>
// Usage: node client.js <host:port> <SayHello|Fail> <name> [key=value metadata...]
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const [address, method = 'SayHello', name = 'world', ...pairs] = process.argv.slice(2);
if (!address) {
  console.error('usage: node client.js <host:port> <method> <name> [key=value...]');
  process.exit(2);
}

const definition = loader.loadSync(path.join(__dirname, 'greet.proto'), { keepCase: true });
const greet = grpc.loadPackageDefinition(definition).greet;
const client = new greet.Greeter(address, grpc.credentials.createInsecure());
const metadata = new grpc.Metadata();
for (const pair of pairs) {
  const eq = pair.indexOf('=');
  metadata.add(pair.slice(0, eq), pair.slice(eq + 1));
}

client[method]({ name }, metadata, { deadline: Date.now() + 10000 }, (error, reply) => {
  if (error) {
    console.log(`error status=${error.code} message=${error.details}`);
  } else {
    console.log(`reply status=0 message=${reply.message}`);
  }
  client.close();
});
