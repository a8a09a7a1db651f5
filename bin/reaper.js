// Kills a child process when its parent dies, whatever way the parent dies (SIGKILL included), so a
// crashed test run or CLI never leaves a Temporal dev server behind. Runs detached: reaper.js PARENT CHILD
const [parent, child] = process.argv.slice(2).map(Number);
const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const timer = setInterval(() => {
  if (!alive(child)) process.exit(0);
  if (!alive(parent)) {
    try {
      process.kill(-child, 'SIGTERM'); // its process group: the server and anything it started
    } catch {
      try {
        process.kill(child, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    setTimeout(() => {
      try {
        process.kill(-child, 'SIGKILL');
      } catch {
        /* gone */
      }
      process.exit(0);
    }, 5000);
    clearInterval(timer);
  }
}, 500);
