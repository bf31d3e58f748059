// One-shot of deploy/compose.yaml: initiate the replica set once, then wait for a primary.
// Run by mongosh against mongo-1 (directConnection); safe to run again (it only waits then).
const config = {
  _id: "rs0",
  members: [
    { _id: 0, host: "mongo-1:27017", priority: 2 },
    { _id: 1, host: "mongo-2:27017", priority: 1 },
    { _id: 2, host: "mongo-3:27017", priority: 1 },
  ],
};

try {
  rs.status();
  print("replica set rs0 already initiated");
} catch (error) {
  if (error.codeName !== "NotYetInitialized") {
    throw error;
  }
  rs.initiate(config);
  print("replica set rs0 initiated");
}

const deadline = Date.now() + 120 * 1000;
for (;;) {
  let primary = null;
  try {
    primary = rs.status().members.find((member) => member.stateStr === "PRIMARY");
  } catch (error) {
    // the set is still electing: keep waiting
  }
  if (primary) {
    print(`primary elected: ${primary.name}`);
    break;
  }
  if (Date.now() > deadline) {
    throw new Error("no primary elected within 120 s");
  }
  sleep(500);
}
