#!/usr/bin/env node
// Validates Kubernetes objects offline against the Kubernetes OpenAPI schema (kubernetes-models)
// and the prometheus-operator CRD schemas (@kubernetes-models/prometheus-operator).
// Usage: node validate.js FILE.yaml...   (multi-document YAML, e.g. `kubectl kustomize` output)
// Prints one line per object ("ok KIND NAME" or "invalid KIND NAME: reason") and exits 1 when
// any object is invalid or of a kind it has no schema for. Installed by test/deploy/install.sh.
"use strict";
const fs = require("fs");
const YAML = require("yaml");

// apiVersion -> module that holds its models.
function modelsFor(apiVersion) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  if (group === "monitoring.coreos.com") {
    return require(`@kubernetes-models/prometheus-operator/${group}/${version}`);
  }
  return require(group === "" ? `kubernetes-models/${version}` : `kubernetes-models/${group}/${version}`);
}

let failed = 0;
let count = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))) {
    if (doc.errors.length) {
      console.log(`invalid YAML in ${file}: ${doc.errors[0].message}`);
      failed++;
      continue;
    }
    const obj = doc.toJS();
    if (obj === null) continue;
    count++;
    const what = `${obj.apiVersion}/${obj.kind} ${obj.metadata && obj.metadata.name}`;
    let Model;
    try {
      Model = modelsFor(obj.apiVersion)[obj.kind];
    } catch (e) {
      Model = undefined;
    }
    if (typeof Model !== "function") {
      console.log(`invalid ${what}: no schema for this apiVersion and kind`);
      failed++;
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`ok ${what}`);
    } catch (e) {
      console.log(`invalid ${what}: ${e.message.replace(/\s+/g, " ")}`);
      failed++;
    }
  }
}
console.log(`${count} objects, ${failed} invalid`);
process.exit(failed || count === 0 ? 1 : 0);
