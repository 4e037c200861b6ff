using BackupDR.Engine.Aws;

namespace BackupDR.Engine.Deploy;

/// <summary>Deploy-BackupFunctions: the functions (three, and replication when asked), one after the other, each only after the host agrees to its changes.</summary>
public static class Deployer
{
    public static async Task<IReadOnlyList<FunctionDeployment>> DeployAsync(DeployRequest request, IOperationHost host, Action<FunctionDeployment> deployed,
        CancellationToken cancellationToken)
    {
        request.Validate();
        AwsClientFactory.ValidateRegion(request.Aws.Region);
        if (request.SharesRoles)
        {
            host.Warning("The functions share a role, so each holds the others' permissions: the validation function, which parses objects anyone able to write the bucket " +
                         $"could have written, could then write tables and delete backups. Give each its own role ({Say.Option("backup-role-arn")}, {Say.Option("validation-role-arn")}, " +
                         $"{Say.Option("recovery-role-arn")}), each with its own policy.");
        }
        byte[] package = request.ReadPackage();
        string sha = FunctionDeployer.Sha256(package);
        var factory = new AwsClientFactory(request.Aws);
        try
        {
            var region = SignedHttpClient.ResolveRegion(request.Aws);
            using var http = SignedHttpClient.For(factory);
            using var s3 = factory.CreateS3();
            var deployer = new FunctionDeployer(new LambdaApi(http, region), new EventBridgeApi(http, region), s3, request, region.SystemName, package, sha, host);
            var results = new List<FunctionDeployment>();
            if (request.LedgerTableName is { } ledgerName)
            {
                // The functions only describe and write the ledger: the deployment creates it.
                using var dynamo = factory.CreateDynamoDB();
                if (await Tables.TableSchema.TryDescribeAsync(dynamo, ledgerName, cancellationToken).ConfigureAwait(false) is null)
                {
                    if (await host.ConfirmAsync($"ledger table '{ledgerName}'", "Create the ledger table (on-demand; docs/ledger.md)", cancellationToken).ConfigureAwait(false))
                    {
                        await new Ledger.LedgerTable(dynamo, ledgerName).EnsureAsync(host, cancellationToken).ConfigureAwait(false);
                    }
                }
                else
                {
                    await new Ledger.LedgerTable(dynamo, ledgerName).EnsureAsync(host, cancellationToken).ConfigureAwait(false);   // its keys are a ledger's
                }
            }
            foreach (string kind in request.DeployedKinds)
            {
                var plan = await deployer.RunAsync(kind, apply: false, cancellationToken).ConfigureAwait(false);
                var result = plan;
                if (plan.Changes.Count > 0)
                {
                    string action = "Deploy: " + string.Join("; ", plan.Changes);
                    result = await host.ConfirmAsync($"function {plan.FunctionName}", action, cancellationToken).ConfigureAwait(false)
                        ? await deployer.RunAsync(kind, apply: true, cancellationToken).ConfigureAwait(false)
                        : plan;
                }
                else
                {
                    plan.Applied = true;   // nothing to do: the function is as asked
                }
                results.Add(result);
                deployed(result);
            }
            if (request.ReplicaBucket is null && await deployer.RetireReplicationAsync(apply: false, cancellationToken).ConfigureAwait(false) is { } retire)
            {
                var retired = await host.ConfirmAsync($"function {retire.FunctionName}", "Deploy: " + string.Join("; ", retire.Changes), cancellationToken).ConfigureAwait(false)
                    ? await deployer.RetireReplicationAsync(apply: true, cancellationToken).ConfigureAwait(false) ?? retire
                    : retire;
                results.Add(retired);
                deployed(retired);
            }
            return results;
        }
        catch (Exception e)
        {
            throw AwsErrors.Translate(e, request.FunctionNamePrefix);
        }
    }
}
