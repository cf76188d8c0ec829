// Calls one unary greet.Greeter method over h2c and prints one line that tests assert on:
//   reply status=0 message=<reply message>
//   error status=<grpc code> message=<grpc message>
// Usage: node client.js <host:port> <SayHello|Fail> <name> [key=value metadata...]
'use strict';
const { connect, metadataFrom } = require('./greeter');

const [address, method = 'SayHello', name = 'world', ...pairs] = process.argv.slice(2);
if (!address) {
  console.error('usage: node client.js <host:port> <method> <name> [key=value...]');
  process.exit(2);
}

const client = connect(address);
const metadata = metadataFrom(pairs);

client[method]({ name }, metadata, { deadline: Date.now() + 10000 }, (error, reply) => {
  if (error) {
    console.log(`error status=${error.code} message=${error.details}`);
  } else {
    console.log(`reply status=0 message=${reply.message}`);
  }
  client.close();
});
