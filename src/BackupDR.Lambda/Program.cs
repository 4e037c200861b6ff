using BackupDR.Lambda;

// The Lambda custom runtime (bootstrap): the Runtime API from AWS_LAMBDA_RUNTIME_API, the system clock,
// the process environment and standard output. The loop itself is LambdaHost.
using var api = RuntimeApi.FromEnvironment();
return await new LambdaHost(api, TimeProvider.System, Environment.GetEnvironmentVariable, Console.Out).RunAsync(CancellationToken.None);
