using System.Security.Cryptography;

namespace MoeDetect.Model.Engines.Auto;

/// <summary>Which model file a measurement is of: the SHA-256 of its bytes, so that a copy or a renamed file is the same
/// model and a retrained one under the same name is not; and its file name, for messages.</summary>
public sealed record ModelFingerprint(string FileName, string Sha256)
{
    public static ModelFingerprint Of(string path)
    {
        using var stream = File.OpenRead(path);
        return new(Path.GetFileName(path), Convert.ToHexStringLower(SHA256.HashData(stream)));
    }

    /// <summary>The project's own format (<c>.moedet</c>): an ES-MoE model, run by the sparse engines.</summary>
    public bool IsMixtureOfExperts => FileName.EndsWith(".moedet", StringComparison.OrdinalIgnoreCase);
}
