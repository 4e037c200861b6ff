using System.Net;
using System.Net.Sockets;

namespace BackupDR.Testing;

/// <summary>Free loopback ports in the project's range (49100–49199), for the test and bench processes' own listeners.</summary>
internal static class LocalPorts
{
    public static int Free()
    {
        for (int i = 0; i < 100; i++)
        {
            int port = 49100 + Random.Shared.Next(100);
            try
            {
                using var probe = new TcpListener(IPAddress.Loopback, port);
                probe.Start();
                return port;
            }
            catch (SocketException)
            {
                // taken: try another
            }
        }
        throw new InvalidOperationException("No free port in 49100-49199.");
    }
}
