'use strict';
/**
 * The motet.v1 protocol, loaded from the repository's .proto files at run time (no generated code).
 *
 * Where the files are: `sdk/node/protos` when it exists (a published package: filled by the
 * `prepack` script from the repository's `protos/motet`), else the repository's `protos/`
 * (`../../protos` from the package). The two google/rpc files that describe gRPC error details
 * (`google.rpc.Status`, `ErrorInfo`, `BadRequest`) are vendored in `protos-google/`.
 *
 * Two views of the same files, both with camelCase field names (proto-loader `keepCase: false`,
 * protobufjs' default):
 * - `grpcObject`: the service client constructors (@grpc/proto-loader + @grpc/grpc-js);
 * - `types`: protobufjs message types, used to encode a canvas (`Canvas.toBinary()`) and to
 *   decode the `grpc-status-details-bin` trailer.
 */

const fs = require('node:fs');
const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');
const protobuf = require('protobufjs');

const PACKAGE_ROOT = path.join(__dirname, '..');

/**
 * The folder that holds `motet/v1/*.proto`.
 * @returns {string}
 */
function protosDir() {
  const bundled = path.join(PACKAGE_ROOT, 'protos');
  if (fs.existsSync(path.join(bundled, 'motet', 'v1', 'canvas.proto'))) {
    return bundled;
  }
  return path.join(PACKAGE_ROOT, '..', '..', 'protos');
}

const PROTOS = protosDir();
const GOOGLE_PROTOS = path.join(PACKAGE_ROOT, 'protos-google');
const INCLUDE = [PROTOS, GOOGLE_PROTOS];
const MOTET_FILES = [
  'motet/v1/common.proto',
  'motet/v1/canvas.proto',
  'motet/v1/scheduler.proto',
  'motet/v1/results.proto',
  'motet/v1/worker.proto',
  'motet/v1/error_reason.proto',
];
const GOOGLE_FILES = ['google/rpc/status.proto', 'google/rpc/error_details.proto'];

/** Options for reading responses: enums by name, 64-bit integers as strings, defaults filled in. */
const LOADER_OPTIONS = {
  keepCase: false,
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: INCLUDE,
};

const packageDefinition = protoLoader.loadSync(MOTET_FILES, LOADER_OPTIONS);
const grpcObject = grpc.loadPackageDefinition(packageDefinition);

function resolveIn(includeDirs) {
  return (origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of includeDirs) {
      const candidate = path.join(dir, target);
      if (fs.existsSync(candidate)) return candidate;
    }
    return target; // google/protobuf/*.proto: protobufjs' bundled copies
  };
}

const root = new protobuf.Root();
root.resolvePath = resolveIn(INCLUDE);
root.loadSync([...MOTET_FILES, ...GOOGLE_FILES], { keepCase: false });
root.resolveAll();

/** protobufjs message types used directly by the SDK. */
const types = {
  Canvas: root.lookupType('motet.v1.Canvas'),
  Status: root.lookupType('google.rpc.Status'),
  ErrorInfo: root.lookupType('google.rpc.ErrorInfo'),
  BadRequest: root.lookupType('google.rpc.BadRequest'),
};

module.exports = { PROTOS, GOOGLE_PROTOS, grpcObject, packageDefinition, root, types, LOADER_OPTIONS };
