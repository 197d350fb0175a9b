using AutoPrune.Pruning;

namespace AutoPrune.Tests.Pruning;

public sealed class TokenRecyclingTests
{
    [Theory]
    [InlineData(0, 0, 0)]
    [InlineData(1, 1, 1)]
    [InlineData(9, 3, 1)]      // int(2.7)+1 = 3 candidates → 3/10+1 = 1 cluster
    [InlineData(100, 31, 4)]
    [InlineData(250, 76, 8)]
    public void CountsFollowSparseVlm(int dropped, int candidates, int clusters)
    {
        Assert.Equal(candidates, TokenRecycling.CandidateCount(dropped));
        Assert.Equal(clusters, TokenRecycling.ClusterCount(candidates));
        Assert.Equal(clusters, TokenRecycling.RecycledCount(dropped));
    }

    [Fact]
    public void ClustersPartitionTheTokensAndFindSeparatedBlobs()
    {
        // Three well separated blobs of 7, 7 and 6 points in 5-D; 3 clusters must recover them.
        const int dim = 5;
        var rng = new Random(3);
        var f = new float[20 * dim];
        for (int i = 0; i < 20; i++)
        {
            int blob = i < 7 ? 0 : i < 14 ? 1 : 2;
            for (int j = 0; j < dim; j++) f[i * dim + j] = blob * 10f * (j == blob ? 1 : 0) + (float)(rng.NextDouble() * 0.1);
        }
        var groups = TokenRecycling.Cluster(f, 20, dim, 3);
        Assert.Equal(3, groups.Length);
        var seen = new bool[20];
        foreach (var g in groups)
        {
            Assert.NotEmpty(g);
            int blob = g[0] < 7 ? 0 : g[0] < 14 ? 1 : 2;
            foreach (var i in g)
            {
                Assert.False(seen[i]);
                seen[i] = true;
                Assert.Equal(blob, i < 7 ? 0 : i < 14 ? 1 : 2);
            }
        }
        Assert.All(seen, Assert.True);
    }

    [Fact]
    public void OneClusterPerTokenWhenClustersEqualTokens()
    {
        var f = new float[] { 0, 0, 1, 1, 5, 5 };
        var groups = TokenRecycling.Cluster(f, 3, 2, 3);
        Assert.Equal(3, groups.Length);
        Assert.All(groups, g => Assert.Single(g));
    }

    [Fact]
    public void TopByScoreBreaksTiesByIndex()
    {
        float[] scores = [0.5f, 0.9f, 0.5f, 0.1f, 0.9f];
        Assert.Equal([1, 4, 0], TokenRecycling.TopByScore([0, 1, 2, 3, 4], scores, 3));
        Assert.Equal([0, 1, 4], Ranking.TopKInOrder(scores, 3));
    }
}
