// What the grpc-js client scripts share: a greet.Greeter client over h2c, and call metadata
// from key=value arguments.
'use strict';
const path = require('path');
const grpc = require('@grpc/grpc-js');
const loader = require('@grpc/proto-loader');

const definition = loader.loadSync(path.join(__dirname, 'greet.proto'), { keepCase: true });
const greet = grpc.loadPackageDefinition(definition).greet;

function connect(address) {
  return new greet.Greeter(address, grpc.credentials.createInsecure());
}

function metadataFrom(pairs) {
  const metadata = new grpc.Metadata();
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    metadata.add(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return metadata;
}

module.exports = { connect, metadataFrom };
